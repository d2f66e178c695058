/**
 * Test harness inside workerd: a mirror is the real worker (its exported fetch handler) with its
 * own environment, so each test picks its upstreams; the bucket is the real local R2 binding.
 */

import { env } from "cloudflare:workers";
import { createExecutionContext, createScheduledController, listDurableObjectIds, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import type { FillCoordinator } from "../../worker/fill/coordinator";
import { inject } from "vitest";
import worker from "../../worker/index";
import { createUpstream, fixtureBytes as fixtureBytesAt, type Fault, type Upstream, type UpstreamConfig } from "../shared/control.ts";
import "../shared/manifest.ts";

export const manifest = inject("manifest");

export type { Fault, Upstream, UpstreamConfig };

/** Creates a fresh upstream on the fixture server. */
export function upstream(config: UpstreamConfig = {}): Promise<Upstream> {
  return createUpstream(manifest.controlUrl, config);
}

/** The bytes the fixture upstream serves for a protocol path. */
export function fixtureBytes(path: string): Promise<Uint8Array> {
  return fixtureBytesAt(manifest.controlUrl, path);
}

export interface Mirror {
  env: Env;
  /** Sends a request to the worker; `path` is relative to the mirror's origin. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Runs the cron trigger's handler, as Cloudflare would every minute. */
  scheduled(): Promise<void>;
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
    async scheduled() {
      const ctx = createExecutionContext();
      pending.push(ctx);
      await worker.scheduled!(createScheduledController({ cron: "* * * * *" }), mirrorEnv, ctx);
    },
    async settle() {
      // Requests' background work, then every fill coordinator's running fill, until both are quiet.
      for (let round = 0; round < 3; round++) {
        while (pending.length > 0) await waitOnExecutionContext(pending.shift()!);
        for (const id of await listDurableObjectIds(env.FILLS)) {
          await runInDurableObject(env.FILLS.get(id), (coordinator: FillCoordinator) => coordinator.idle());
        }
      }
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
