import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
  auditBucket,
  bucket,
  fixtureBytes,
  manifest,
  putObject,
  storedBytes,
  storedInfo,
  testWorker,
  treeHashOfTarGz,
  upstream,
  type TestWorker,
  type Upstream,
} from "../harness";
import { treeHashOfTarZst } from "../../../worker/verify/zstd";
import { acceptTreeHash } from "../../../worker/verify/rule";
import { parseResourcePath } from "../../../worker/protocol/paths";
import { zstdEncoder } from "../../../worker/verify/zstd-codec";

/** Julia 1.13's Pkg, on tarball URLs (Pkg.jl PlatformEngines). */
const JULIA_113 = { "accept-encoding": "zstd, gzip" };
const MiB = 1024 * 1024;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC = [0x1f, 0x8b];

const packagePath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
let up: Upstream;
let m: TestWorker;

beforeEach(async () => {
  up = await upstream();
  m = testWorker({ UPSTREAM_SERVERS: up.url });
});

async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

function magic(bytes: Uint8Array, n: number): number[] {
  return [...bytes.subarray(0, n)];
}

/** Whether `bytes`, a zstd tarball, unpacks to a tar the resource at `path` accepts. */
async function zstdVerifies(path: string, bytes: Uint8Array): Promise<boolean> {
  const resource = parseResourcePath(path)!;
  const hashes = await treeHashOfTarZst(new Blob([bytes]).stream(), { maxWindowBytes: 32 * MiB });
  return acceptTreeHash(resource.kind, resource.treeHash, hashes).ok;
}

async function zstdOf(tar: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const encoder = zstdEncoder(3, 8 * MiB);
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    for (let next = await encoder.output.next(); !next.done; next = await encoder.output.next()) parts.push(next.value);
  })();
  for await (const chunk of tar) await encoder.write(chunk);
  encoder.end();
  await reading;
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

describe("zstd variants for Julia 1.13 clients (protocol.md §4.4)", () => {
  it("gives the first zstd client of a cold package gzip, makes the verified variant, and gives it to the next", async () => {
    const path = packagePath();
    const first = await m.fetch(path, { headers: JULIA_113 });
    expect(first.status).toBe(200);
    expect(magic(await bytesOf(first), 2)).toEqual(GZIP_MAGIC);
    expect(first.headers.get("vary")).toBe("accept-encoding");
    await m.settle();
    const variant = await storedBytes(`${path.slice(1)}.tar.zst`);
    expect(variant, "the variant is in the bucket").not.toBeNull();

    const second = await m.fetch(path, { headers: JULIA_113 });
    const body = await bytesOf(second);
    expect(second.status).toBe(200);
    expect(magic(body, 4)).toEqual(ZSTD_MAGIC);
    expect(second.headers.get("content-type")).toBe("application/zstd");
    expect(second.headers.has("content-encoding")).toBe(false);
    expect(second.headers.get("vary")).toBe("accept-encoding");
    expect(second.headers.get("cache-control")).toBe("public, max-age=31536000, immutable, no-transform");
    expect(second.headers.get("content-length")).toBe(String(body.length));
    expect(second.headers.get("x-cache")).toBe("HIT");
    expect(second.headers.get("etag")).not.toBe(first.headers.get("etag"));
    expect(await zstdVerifies(path, body)).toBe(true);
    expect(await auditBucket()).toContain(`${path.slice(1)}.tar.zst`);
    // One upstream download in all: the variant was made from the bucket's copy.
    expect((await up.log()).filter((r) => r.method === "GET")).toHaveLength(1);
    await m.settle();
    const stats = (await (await m.fetch("/meta/stats")).json()) as { encodings: Record<string, number> };
    expect(stats.encodings).toEqual({ gzip: 1, zstd: 1 });
    const meta = (await (await m.fetch("/meta")).json()) as { zstd: { mode: string } };
    expect(meta.zstd.mode).toBe("on");
  });

  it("gives clients that do not ask for zstd exactly the gzip answer, variant or not", async () => {
    const path = packagePath();
    await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    const asked: Record<string, string>[] = [
      {},
      { "accept-encoding": "gzip" },
      { "accept-encoding": "*" },
      { "accept-encoding": "zstd;q=0, gzip" },
    ];
    for (const headers of asked) {
      const res = await m.fetch(path, { headers });
      const body = await bytesOf(res);
      expect(magic(body, 2), JSON.stringify(headers)).toEqual(GZIP_MAGIC);
      expect(res.headers.get("content-type")).toBe("application/x-gzip");
      expect(body).toEqual(await fixtureBytes(path));
    }
  });

  it("answers HEAD, ranges and If-None-Match per variant", async () => {
    const path = packagePath();
    await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    const whole = await bytesOf(await m.fetch(path, { headers: JULIA_113 }));
    const head = await m.fetch(path, { method: "HEAD", headers: JULIA_113 });
    expect(head.headers.get("content-length")).toBe(String(whole.length));
    expect(head.headers.get("content-type")).toBe("application/zstd");
    const etag = head.headers.get("etag")!;
    const range = await m.fetch(path, { headers: { ...JULIA_113, range: "bytes=4-9" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 4-9/${whole.length}`);
    expect(await bytesOf(range)).toEqual(whole.subarray(4, 10));
    expect((await m.fetch(path, { headers: { ...JULIA_113, "if-none-match": etag } })).status).toBe(304);
    // The variant's ETag is not the gzip copy's: a gzip client holding it gets the gzip body.
    const gzip = await m.fetch(path, { headers: { "if-none-match": etag } });
    expect(gzip.status).toBe(200);
    expect(magic(await bytesOf(gzip), 2)).toEqual(GZIP_MAGIC);
  });

  it("never completes one representation's prefix with the other's bytes: a date If-Range holds for neither", async () => {
    const path = packagePath();
    await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    const gzipHead = await m.fetch(path, { method: "HEAD" });
    const zstdHead = await m.fetch(path, { method: "HEAD", headers: JULIA_113 });
    expect(zstdHead.headers.get("content-type")).toBe("application/zstd");
    // A client holding the start of one resumes with the date it saw, now asking the other way.
    for (const [date, headers] of [
      [gzipHead.headers.get("last-modified")!, JULIA_113],
      [zstdHead.headers.get("last-modified")!, {}],
    ] as const) {
      const resumed = await m.fetch(path, { headers: { ...headers, range: "bytes=10-", "if-range": date } });
      await resumed.arrayBuffer();
      expect(resumed.status, `If-Range ${date} asking ${JSON.stringify(headers)}`).toBe(200);
    }
    // Its own ETag still resumes it.
    const own = await m.fetch(path, { headers: { ...JULIA_113, range: "bytes=10-", "if-range": zstdHead.headers.get("etag")! } });
    await own.arrayBuffer();
    expect(own.status).toBe(206);
  });

  it("makes a variant of a multi-part size as a verified multipart upload", async () => {
    const path = manifest.largeArtifact;
    await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    // Made in the background after the gzip answer; under load it can outlast settle(): wait for it.
    for (let waited = 0; !(await storedInfo(`${path.slice(1)}.tar.zst`)) && waited < 20_000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await m.fetch(path, { headers: JULIA_113 });
    const body = await bytesOf(res);
    expect(res.headers.get("content-type")).toBe("application/zstd");
    expect(body.length).toBeGreaterThan(8 * MiB);
    expect(await zstdVerifies(path, body)).toBe(true);
  });

  it("never stores a variant of a gzip copy that does not verify (a bucket copy tampered with)", async () => {
    const path = manifest.artifact;
    const other = await fixtureBytes(manifest.bigArtifact);
    await putObject(path.slice(1), other); // valid gzip, another tree
    const res = await m.fetch(path, { headers: JULIA_113 });
    expect(magic(await bytesOf(res), 2)).toEqual(GZIP_MAGIC);
    await m.settle();
    expect(await storedInfo(`${path.slice(1)}.tar.zst`)).toBeNull();
  });

  it("tries a variant whose gzip copy cannot be read (corrupt in the bucket) once, not on every request", async () => {
    const spies = (["log", "warn", "error"] as const).map((level) => vi.spyOn(console, level));
    const lines = () => spies.flatMap((spy) => spy.mock.calls.map((c) => String(c[0])));
    const path = manifest.artifact;
    const gz = await fixtureBytes(path);
    await putObject(path.slice(1), gz.slice(0, gz.length - 40)); // cut short: gunzip fails
    for (let i = 0; i < 3; i++) {
      await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
      await m.settle();
    }
    expect(lines().filter((l) => l.includes('"zstd_refused"'))).toHaveLength(1);
    expect(lines().filter((l) => l.includes('"zstd_failed"'))).toEqual([]);
    expect(await storedInfo(`${path.slice(1)}.tar.zst`)).toBeNull();
    for (const spy of spies) spy.mockRestore();
  });

  it("gives up on a variant whose earlier attempt never finished (the CPU limit reset its coordinator), and says so once", async () => {
    const spies = (["log", "warn", "error"] as const).map((level) => vi.spyOn(console, level));
    const lines = () => spies.flatMap((spy) => spy.mock.calls.map((c) => String(c[0])));
    const path = manifest.artifact;
    await putObject(path.slice(1), await fixtureBytes(path));
    // What an attempt cut short leaves: its start recorded, no outcome.
    const stub = env.FILLS.get(env.FILLS.idFromName(`${up.url} ${path.slice(1)}`));
    await runInDurableObject(stub, (_, state) => state.storage.put("variant", { startedAt: Date.now() - 60_000 }));
    for (let i = 0; i < 3; i++) {
      await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
      await m.settle();
    }
    expect(await storedInfo(`${path.slice(1)}.tar.zst`)).toBeNull();
    expect(lines().filter((l) => l.includes('"zstd_skipped"') && l.includes("never finished"))).toHaveLength(1);
    expect(lines().filter((l) => l.includes('"zstd_made"'))).toEqual([]);
    for (const spy of spies) spy.mockRestore();
  });

  it("does not make a variant of a tarball over ZSTD_MAX_TRANSCODE_BYTES", async () => {
    const path = manifest.bigArtifact;
    m = testWorker({ UPSTREAM_SERVERS: up.url, ZSTD_MAX_TRANSCODE_BYTES: "1000" });
    await (await m.fetch(path, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    expect(await storedInfo(`${path.slice(1)}.tar.zst`)).toBeNull();
    const again = await m.fetch(path, { headers: JULIA_113 });
    expect(magic(await bytesOf(again), 2)).toEqual(GZIP_MAGIC);
  });

  it("with ZSTD=serve serves a variant already in the bucket and makes none", async () => {
    m = testWorker({ UPSTREAM_SERVERS: up.url, ZSTD: "serve" });
    const [held, made] = [manifest.artifact, packagePath()];
    const gz = await fixtureBytes(held);
    await putObject(held.slice(1), gz);
    const variant = await zstdOf(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")));
    await putObject(`${held.slice(1)}.tar.zst`, variant, "application/zstd");
    const res = await m.fetch(held, { headers: JULIA_113 });
    expect(await bytesOf(res)).toEqual(variant);
    await (await m.fetch(made, { headers: JULIA_113 })).arrayBuffer();
    await m.settle();
    expect(await storedInfo(`${made.slice(1)}.tar.zst`)).toBeNull();
  });

  it("with ZSTD=off gives gzip to everyone, with no Vary, and makes nothing", async () => {
    m = testWorker({ UPSTREAM_SERVERS: up.url, ZSTD: "off" });
    const path = manifest.artifact;
    const gz = await fixtureBytes(path);
    await putObject(path.slice(1), gz);
    await putObject(`${path.slice(1)}.tar.zst`, Uint8Array.from([...ZSTD_MAGIC, 0, 0]), "application/zstd");
    const res = await m.fetch(path, { headers: JULIA_113 });
    expect(await bytesOf(res)).toEqual(gz);
    expect(res.headers.has("vary")).toBe(false);
  });

  it("makes no variant for a HEAD (the GET that follows does)", async () => {
    const path = manifest.artifact;
    await putObject(path.slice(1), await fixtureBytes(path));
    const head = await m.fetch(path, { method: "HEAD", headers: JULIA_113 });
    expect(head.headers.get("content-type")).toBe("application/x-gzip");
    await m.settle();
    expect(await storedInfo(`${path.slice(1)}.tar.zst`)).toBeNull();
  });

  it("cuts a cold range from the gzip fill, as before", async () => {
    const path = manifest.bigArtifact;
    const res = await m.fetch(path, { headers: { ...JULIA_113, range: "bytes=0-1" } });
    expect(res.status).toBe(206);
    expect(magic(await bytesOf(res), 2)).toEqual(GZIP_MAGIC);
  });
});

describe("the bucket audit checks variants too", () => {
  it("catches a variant whose tar is not the resource's", async () => {
    const path = manifest.artifact;
    const wrong = await zstdOf((await bucketlessTar(manifest.bigArtifact)).stream());
    await putObject(`${path.slice(1)}.tar.zst`, wrong, "application/zstd");
    expect(await zstdVerifies(path, wrong)).toBe(false);
    await expect(auditBucket()).rejects.toThrow();
    await bucket().delete(`${path.slice(1)}.tar.zst`);
  });
});

async function bucketlessTar(path: string): Promise<Blob> {
  const gz = await fixtureBytes(path);
  const hashes = await treeHashOfTarGz(new Blob([gz]).stream());
  expect(hashes.noSkip).toMatch(/^[0-9a-f]{40}$/);
  return new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))).blob();
}
