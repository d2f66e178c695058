/**
 * Test harness inside workerd: a mirror is the real worker (its exported fetch handler) with its
 * own environment, so each test picks its upstreams; the bucket is the real local R2 binding.
 */

import { env } from "cloudflare:workers";
import {
  createExecutionContext,
  createScheduledController,
  listDurableObjectIds,
  reset,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import type { FillCoordinator } from "../../worker/fill/coordinator";
import { AwsClient } from "aws4fetch";
import { parseConfig } from "../../worker/config";
import { storeFor } from "../../worker/store/factory";
import type { ObjectInfo, ObjectStore } from "../../worker/store/store";
import worker from "../../worker/index";
import { treeHashOfTarZst } from "../../worker/verify/zstd";
import { treeHashOfTarGz } from "../../worker/verify/verify";
import { acceptTreeHash } from "../../worker/verify/rule";
import { parseResourcePath } from "../../worker/protocol/paths";
import { beforeEach, expect, inject } from "vitest";
import { createUpstream, fixtureBytes as fixtureBytesAt, type Fault, type Upstream, type UpstreamConfig } from "../shared/control.ts";
import "../shared/manifest.ts";

export const manifest = inject("manifest");
const s3 = inject("s3");
/** The bucket backend this test project runs against (the vitest project provides it). */
export const backend = inject("storage") ?? "r2";

let s3Bucket = "";

/**
 * Every test starts with an empty bucket: R2 is reset; on S3 each test gets a bucket of its own
 * on the local S3 server.
 */
beforeEach(async () => {
  await reset();
  if (backend === "s3") {
    const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });
    // A project whose own environment names the bucket (the queue consumer's) reuses it, emptied.
    const fixed = typeof env.S3_BUCKET === "string" ? env.S3_BUCKET : null;
    s3Bucket = fixed ?? `t-${crypto.randomUUID().slice(0, 18)}`;
    const res = await client.fetch(`${s3.endpoint}/${s3Bucket}`, { method: "PUT" });
    if (res.status !== 200 && !(fixed && res.status === 409)) throw new Error(`could not create test bucket ${s3Bucket}: ${res.status}`);
    if (fixed) await emptyBucket(client, `${s3.endpoint}/${s3Bucket}`);
  }
});

async function emptyBucket(client: AwsClient, bucketUrl: string): Promise<void> {
  for (;;) {
    const listing = await (await client.fetch(`${bucketUrl}?list-type=2`)).text();
    const keys = [...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
    if (keys.length === 0) return;
    for (const key of keys) await client.fetch(`${bucketUrl}/${key.split("/").map(encodeURIComponent).join("/")}`, { method: "DELETE" });
  }
}

/** The variables that point a mirror at this project's bucket. */
function storageVars(): Record<string, string> {
  if (backend !== "s3") return {};
  return {
    STORAGE: "s3",
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3Bucket,
    S3_REGION: "us-east-1",
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** The bucket as the worker sees it, through the same factory (either backend). */
export function bucket(): ObjectStore {
  const vars = { ...env, ...storageVars() } as unknown as Env;
  return storeFor(vars, parseConfig(vars as unknown as Record<string, unknown>));
}

export async function storedBytes(key: string): Promise<Uint8Array | null> {
  const obj = await bucket().get(key);
  return obj ? new Uint8Array(await new Response(obj.body).arrayBuffer()) : null;
}

export async function storedText(key: string): Promise<string | null> {
  const b = await storedBytes(key);
  return b ? new TextDecoder().decode(b) : null;
}

export function storedInfo(key: string): Promise<ObjectInfo | null> {
  return bucket().head(key);
}

export async function putObject(key: string, bytes: Uint8Array, contentType = "application/x-gzip"): Promise<void> {
  await bucket().putStream(key, new Blob([bytes]).stream(), bytes.length, { contentType });
}

export type { Fault, Upstream, UpstreamConfig };

/** Creates a fresh upstream on the fixture server. */
export function upstream(config: UpstreamConfig = {}, name?: string): Promise<Upstream> {
  return createUpstream(manifest.controlUrl, config, name);
}

/**
 * One of the upstreams the coordinators' own environment lists (vitest.config.ts): a fill is
 * resumed by its alarm only from those. `index` 0 to 2; each test file uses its own.
 */
export function resumableUpstream(index: number, config: UpstreamConfig = {}): Promise<Upstream> {
  const url = String(env.UPSTREAM_SERVERS).split(",")[index]!;
  return upstream(config, url.slice(url.lastIndexOf("/u/") + 3));
}

/** The bytes the fixture upstream serves for a protocol path. */
export function fixtureBytes(path: string): Promise<Uint8Array> {
  return fixtureBytesAt(manifest.controlUrl, path);
}

export interface TestWorker {
  env: Env;
  /** Sends a request to the worker; `path` is relative to its origin. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Runs the cron trigger's handler, as Cloudflare would every minute. */
  scheduled(): Promise<void>;
  /** Waits for every background task (bucket writes, refreshes) started so far. */
  settle(): Promise<void>;
}

/** The fixture registry's origin and history: the fixture server knows every snapshot it serves, in order. */
const fixtureRegistries = () => `${manifest.registryUuid}=${manifest.controlUrl}/origin/{hash}`;
const fixtureHistory = () => `${manifest.registryUuid}=${manifest.controlUrl}/history`;

/** A worker under test with its own configuration; the same object keeps its in-memory state across requests. */
export function testWorker(vars: Record<string, unknown>): TestWorker {
  const workerEnv = { ...env, ...storageVars(), REGISTRIES: fixtureRegistries(), REGISTRY_HISTORY: fixtureHistory(), ...vars } as Env;
  const pending: ExecutionContext[] = [];
  const responses: Response[] = [];
  return {
    env: workerEnv,
    async fetch(path, init) {
      const ctx = createExecutionContext();
      pending.push(ctx);
      const res = await worker.fetch!(
        new Request(`http://pkgedge.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
        workerEnv,
        ctx,
      );
      responses.push(res);
      return res;
    },
    async scheduled() {
      const ctx = createExecutionContext();
      pending.push(ctx);
      await worker.scheduled!(createScheduledController({ cron: "* * * * *" }), workerEnv, ctx);
    },
    async settle() {
      // A body the test never read is a client that went away: the access log waits for every
      // body to be delivered or broken, so those are cancelled first. (A test that stops reading
      // a body it took a reader for must cancel that reader itself.)
      for (const res of responses.splice(0)) if (res.body && !res.bodyUsed) await res.body.cancel().catch(() => {});
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
  for await (const info of bucket().list("")) keys.push(info.key);
  return keys.sort();
}

export { treeHashOfTarGz };

export type Outcome = { status: number; clean: true; bytes: Uint8Array } | { status: number; clean: false };

/** Reads a response to its end: a clean end with the bytes, or a broken transfer. */
export async function outcome(res: Response): Promise<Outcome> {
  try {
    return { status: res.status, clean: true, bytes: new Uint8Array(await res.arrayBuffer()) };
  } catch {
    return { status: res.status, clean: false };
  }
}

/** Lists the bucket and re-verifies every tarball in it: nothing wrong may ever be stored. */
export async function auditBucket(): Promise<string[]> {
  const keys: string[] = [];
  for await (const obj of bucket().list("")) {
    if (obj.key.endsWith(".tar.zst")) {
      const resource = parseResourcePath("/" + obj.key.slice(0, -".tar.zst".length));
      if (!resource) continue;
      keys.push(obj.key);
      const hashes = await treeHashOfTarZst(new Blob([(await storedBytes(obj.key))!]).stream(), { maxWindowBytes: 32 * 1024 * 1024 });
      expect(acceptTreeHash(resource.kind, resource.treeHash, hashes).ok, `${obj.key} verifies`).toBe(true);
      continue;
    }
    const resource = parseResourcePath("/" + obj.key);
    if (!resource) continue;
    keys.push(obj.key);
    const bytes = (await storedBytes(obj.key))!;
    const hashes = await treeHashOfTarGz(new Blob([bytes]).stream());
    expect(acceptTreeHash(resource.kind, resource.treeHash, hashes).ok, `${obj.key} verifies`).toBe(true);
    const fixture = manifest.objects["/" + obj.key];
    if (fixture) expect(await sha256(bytes), `${obj.key} holds the fixture bytes`).toBe(fixture.sha256);
  }
  return keys;
}
