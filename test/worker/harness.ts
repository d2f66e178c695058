/**
 * Test harness inside workerd: a mirror is the real worker (its exported fetch handler) with its
 * own environment, so each test picks its upstreams; the bucket is the real local R2 binding.
 */

import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { inject } from "vitest";
import worker from "../../worker/index";
import type { Fault, UpstreamConfig } from "../shared/upstream-config.ts";
import "../shared/manifest.ts";

export const manifest = inject("manifest");

let upstreamCount = 0;

/** Creates a fresh upstream on the fixture server and returns its base URL and a way to read its log. */
export async function upstream(config: UpstreamConfig = {}): Promise<Upstream> {
  const name = `up${++upstreamCount}-${Math.random().toString(36).slice(2, 8)}`;
  const res = await fetch(`${manifest.controlUrl}/control/upstreams/${name}`, { method: "PUT", body: JSON.stringify(config) });
  const { url } = (await res.json()) as { url: string };
  return {
    url,
    async log() {
      const r = await fetch(`${manifest.controlUrl}/control/upstreams/${name}/log`);
      return (await r.json()) as RequestRecord[];
    },
    async reconfigure(next: UpstreamConfig) {
      await fetch(`${manifest.controlUrl}/control/upstreams/${name}`, { method: "PUT", body: JSON.stringify(next) });
    },
  };
}

export interface RequestRecord {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface Upstream {
  url: string;
  log(): Promise<RequestRecord[]>;
  /** Replaces the configuration (and clears the log). */
  reconfigure(next: UpstreamConfig): Promise<void>;
}

export type { Fault, UpstreamConfig };

/** The bytes the fixture upstream serves for a protocol path. */
export async function fixtureBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(`${manifest.controlUrl}/control/file?path=${encodeURIComponent(path)}`);
  if (res.status !== 200) throw new Error(`no fixture for ${path}`);
  return new Uint8Array(await res.arrayBuffer());
}

export interface Mirror {
  env: Env;
  /** Sends a request to the worker; `path` is relative to the mirror's origin. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Waits for every background task (bucket writes, refreshes) started so far. */
  settle(): Promise<void>;
}

/** A mirror with its own configuration; the same object keeps its in-memory state across requests. */
export function mirror(vars: Record<string, string>): Mirror {
  const mirrorEnv = { ...env, ...vars } as Env;
  const pending: ExecutionContext[] = [];
  return {
    env: mirrorEnv,
    async fetch(path, init) {
      const ctx = createExecutionContext();
      pending.push(ctx);
      return worker.fetch!(new Request(`http://pkgedge.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>, mirrorEnv, ctx);
    },
    async settle() {
      while (pending.length > 0) await waitOnExecutionContext(pending.shift()!);
    },
  };
}

export async function sha256(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every key in the bucket. */
export async function bucketKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BUCKET.list({ cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}
