/**
 * The storage contract, run against both backends: the R2 binding, and a real SigV4-checking S3
 * server. Everything else in pkgedge relies on exactly these behaviours.
 */

import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { R2Store } from "../../../worker/store/r2";
import { S3Store } from "../../../worker/store/s3";
import { S3Error } from "../../../worker/store/s3-error";
import { CHANGED, StorageError, type ObjectStore } from "../../../worker/store/store";
import { withLength } from "../../../worker/streams/bytes";
import { r2InOutage } from "../r2-outage";
import "../../shared/manifest.ts";

const s3 = inject("s3");
const MiB = 1024 * 1024;
const sizes = (threshold: number) => ({ multipartThresholdBytes: threshold, multipartPartBytes: 5 * MiB, timeoutMs: 10_000 });

const backends: [string, (threshold?: number) => ObjectStore][] = [
  ["r2", (threshold = 100 * MiB) => new R2Store(env.BUCKET, sizes(threshold))],
  ["s3", (threshold = 100 * MiB) => new S3Store({ ...s3, region: "us-east-1", forcePathStyle: true, ...sizes(threshold) })],
];

const key = (name: string) => `contract/${crypto.randomUUID()}/${name}`;
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 13) & 0xff;
  return b;
};
const streamOf = (data: Uint8Array, failAt?: number) => {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (failAt !== undefined && sent >= failAt) return controller.error(new Error("upstream broke"));
      if (sent >= data.length) return controller.close();
      const piece = data.subarray(sent, Math.min(sent + 64 * 1024, data.length));
      sent += piece.length;
      controller.enqueue(piece.slice());
    },
  });
};
/** A body that carries its length, as putStream asks when the length is given (a fill's outlet does). */
const sizedOf = (data: Uint8Array, length: number, failAt?: number) => withLength(streamOf(data, failAt), length);
const read = async (store: ObjectStore, k: string) => {
  const obj = await store.get(k);
  return obj ? new Uint8Array(await new Response(obj.body).arrayBuffer()) : null;
};
const opts = { contentType: "application/x-gzip", customMetadata: { upstream: "https://u.example" } };

describe.each(backends)("the %s store", (_, make) => {
  it("writes and reads an object with its length, etag, time and metadata", async () => {
    const store = make();
    const k = key("obj");
    const data = bytes(300_000);
    expect(await store.putStream(k, sizedOf(data, data.length), data.length, opts)).toBe(true);
    const info = (await store.head(k))!;
    expect(info.size).toBe(data.length);
    expect(info.etag).toMatch(/^"[^"]+"$/);
    expect(info.uploaded.getTime()).toBeGreaterThan(Date.now() - 120_000);
    expect(info.customMetadata.upstream).toBe("https://u.example");
    expect(await read(store, k)).toEqual(data);
  });

  it("reads metadata back under lowercase names, whatever case it was written in", async () => {
    const store = make();
    const k = key("meta");
    await store.putSmall(k, "x", {
      contentType: "text/plain",
      customMetadata: { "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT", fetchedAt: "2026-11-25" },
    });
    expect((await store.head(k))!.customMetadata).toEqual({ "last-modified": "Wed, 25 Nov 2026 10:00:00 GMT", fetchedat: "2026-11-25" });
  });

  it("reads a byte span", async () => {
    const store = make();
    const k = key("span");
    const data = bytes(100_000);
    await store.putStream(k, sizedOf(data, data.length), data.length, opts);
    const obj = (await store.get(k, { offset: 1000, length: 2000 }))!;
    expect(new Uint8Array(await new Response(obj.body).arrayBuffer())).toEqual(data.subarray(1000, 3000));
    expect(obj.size).toBe(data.length);
  });

  it("reads an object, or a span of it, only while it still has the etag asked for", async () => {
    const store = make();
    const k = key("unchanged");
    const first = bytes(50_000);
    await store.putStream(k, sizedOf(first, first.length), first.length, opts);
    const old = (await store.head(k))!;
    const whole = await store.getIfUnchanged(k, old.etag);
    expect(whole).not.toBe(CHANGED);
    expect(new Uint8Array(await new Response((whole as Exclude<typeof whole, null | typeof CHANGED>)!.body).arrayBuffer())).toEqual(first);
    const span = await store.getIfUnchanged(k, old.etag, { offset: 100, length: 50 });
    expect(new Uint8Array(await new Response((span as Exclude<typeof span, null | typeof CHANGED>)!.body).arrayBuffer())).toEqual(
      first.subarray(100, 150),
    );

    // Replaced (a revalidation committing between a head and its get): the old etag reads nothing,
    // whether the span still fits the new object or not.
    const second = bytes(70_000).map((b) => b ^ 0xff);
    await store.putStream(k, sizedOf(second, second.length), second.length, opts);
    expect((await store.head(k))!.etag).not.toBe(old.etag);
    expect(await store.getIfUnchanged(k, old.etag)).toBe(CHANGED);
    expect(await store.getIfUnchanged(k, old.etag, { offset: 100, length: 50 })).toBe(CHANGED);
    const shorter = bytes(10);
    await store.putStream(k, sizedOf(shorter, shorter.length), shorter.length, opts);
    expect(await store.getIfUnchanged(k, old.etag, { offset: 49_000, length: 1000 })).toBe(CHANGED);

    await store.delete(k);
    expect(await store.getIfUnchanged(k, old.etag)).toBeNull();
  });

  it("answers null for what is not there", async () => {
    const store = make();
    expect(await store.head(key("missing"))).toBeNull();
    expect(await store.get(key("missing"))).toBeNull();
  });

  it.each([
    ["a stream that breaks", (d: Uint8Array) => sizedOf(d, d.length, 128 * 1024)],
    ["a stream shorter than its length", (d: Uint8Array) => sizedOf(d.subarray(0, d.length - 10), d.length)],
  ])("stores nothing from %s (single put)", async (_, source) => {
    const store = make();
    const k = key("broken");
    const data = bytes(300_000);
    await expect(store.putStream(k, source(data), data.length, opts)).rejects.toThrow();
    expect(await store.head(k)).toBeNull();
  });

  it("writes a multipart object of several parts byte for byte", async () => {
    const store = make(0);
    const k = key("multi");
    const data = bytes(12 * MiB);
    expect(await store.putStream(k, sizedOf(data, data.length), data.length, opts)).toBe(true);
    expect(await read(store, k)).toEqual(data);
    expect((await store.head(k))!.size).toBe(data.length);
  });

  it.each([
    ["of unknown length (buffered parts)", (d: Uint8Array) => streamOf(d, 7 * MiB), undefined],
    ["of known length (streamed parts on S3)", (d: Uint8Array) => sizedOf(d, d.length, 7 * MiB), 12 * MiB],
    ["that ends short of its length", (d: Uint8Array) => sizedOf(d.subarray(0, 11 * MiB), d.length), 12 * MiB],
  ])("stores nothing when a multipart stream %s breaks", async (_what, source, length) => {
    const store = make(0);
    const k = key("multi-broken");
    const data = bytes(12 * MiB);
    await expect(store.putStream(k, source(data), length, opts)).rejects.toThrow();
    expect(await store.head(k)).toBeNull();
  });

  // The local S3 server (s3rver) ignores If-Match / If-None-Match on PutObject; AWS S3, R2's S3 API
  // and MinIO honour them. Until a local server that does is available, this runs on R2 only.
  it.skipIf(_ === "s3")("writes small objects with compare-and-swap", async () => {
    const store = make();
    const k = key("cas");
    expect(await store.putSmall(k, "one", { contentType: "text/plain", onlyIfEtag: null })).toBe(true);
    expect(await store.putSmall(k, "two", { contentType: "text/plain", onlyIfEtag: null })).toBe(false); // exists
    const etag = (await store.head(k))!.etag;
    expect(await store.putSmall(k, "three", { contentType: "text/plain", onlyIfEtag: etag })).toBe(true);
    expect(await store.putSmall(k, "four", { contentType: "text/plain", onlyIfEtag: etag })).toBe(false); // stale
    expect(new TextDecoder().decode((await read(store, k))!)).toBe("three");
  });

  it("lists by prefix and deletes", async () => {
    const store = make();
    const prefix = key("list");
    for (const name of ["a", "b/c", "d"]) await store.putSmall(`${prefix}/${name}`, name, { contentType: "text/plain" });
    const listed: string[] = [];
    for await (const info of store.list(prefix + "/")) listed.push(info.key);
    expect(listed.sort()).toEqual([`${prefix}/a`, `${prefix}/b/c`, `${prefix}/d`]);
    await store.delete(`${prefix}/b/c`);
    expect(await store.head(`${prefix}/b/c`)).toBeNull();
  });
});

describe("the s3 store with wrong credentials", () => {
  it("fails with a clear error and changes nothing", async () => {
    const good = backends[1]![1]();
    const k = key("creds");
    await good.putSmall(k, "kept", { contentType: "text/plain" });
    const bad = new S3Store({ ...s3, secretAccessKey: "not-the-secret", region: "us-east-1", forcePathStyle: true, ...sizes(100 * MiB) });
    const err = await bad.head(k).catch((e) => e);
    expect(err).toBeInstanceOf(S3Error);
    expect((err as S3Error).status).toBe(403);
    await expect(bad.putSmall(k, "overwritten", { contentType: "text/plain" })).rejects.toThrow(/403/);
    expect(new TextDecoder().decode((await read(good, k))!)).toBe("kept");
  });
});

describe("the s3 store against a connection that drops", () => {
  it("sends a part again when its first attempt is cut off, and the object is whole", async () => {
    const flaky = inject("flakyS3");
    const dropped = async () => ((await (await fetch(flaky.stats)).json()) as { dropped: number }).dropped;
    const before = await dropped();
    const store = new S3Store({ ...s3, endpoint: flaky.endpoint, region: "us-east-1", forcePathStyle: true, ...sizes(0) });
    const k = key("flaky");
    const data = bytes(12 * MiB); // three 5 MiB parts: the second one's first attempt is cut
    expect(await store.putStream(k, sizedOf(data, data.length), data.length, opts)).toBe(true);
    expect(await dropped()).toBe(before + 1);
    expect(await read(store, k)).toEqual(data);
  });
});

describe("the s3 store against a bucket that never answers", () => {
  it("gives up within its timeout and retries, instead of hanging its caller", async () => {
    const { controlUrl } = inject("manifest");
    const hung = new S3Store({
      ...s3,
      endpoint: `${controlUrl}/hang`,
      region: "us-east-1",
      forcePathStyle: true,
      ...sizes(100 * MiB),
      timeoutMs: 300,
    });
    const started = Date.now();
    const err = await hung.head(key("hung")).catch((e) => e);
    expect(err).toBeInstanceOf(S3Error);
    expect(String(err)).toMatch(/timed out after 300 ms/);
    expect(String(err)).toMatch(/2 attempts/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("the s3 store against a bucket whose answer breaks off after its headers", () => {
  const broken = (path: string) =>
    new S3Store({
      ...s3,
      endpoint: `${inject("manifest").controlUrl}/${path}`,
      region: "us-east-1",
      forcePathStyle: true,
      ...sizes(100 * MiB),
      timeoutMs: 300,
    });
  const listing = (store: ObjectStore) =>
    (async () => {
      for await (const _ of store.list("")) break;
    })().then(
      () => null,
      (e: unknown) => e,
    );

  it("fails with a StorageError when the connection is cut", async () => {
    const err = await listing(broken("cut-body"));
    expect(err).toBeInstanceOf(StorageError);
    expect(String(err)).toMatch(/^S3Error: S3 LIST {2}failed: 0 /);
  });

  it("fails with a StorageError within its timeout when the body stalls, instead of hanging its caller", async () => {
    const started = Date.now();
    const err = await listing(broken("stall-body"));
    expect(err).toBeInstanceOf(StorageError);
    expect(String(err)).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("fails a multipart upload with a StorageError when the create answer is cut", async () => {
    const data = bytes(1000);
    const err = await broken("cut-body")
      .putStream(key("cut"), streamOf(data), undefined, opts)
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(StorageError);
  });
});

describe("the r2 store's failures are StorageErrors, in R2's words", () => {
  const store = () => backends[0]![1]();
  const failure = async (call: Promise<unknown>) => {
    const err = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).refused).toBe(false); // a binding has no credentials to refuse
    expect((err as StorageError).message).toMatch(/^R2 /);
    return (err as StorageError).message;
  };

  it("what the local R2 itself rejects: a name it does not accept, a span past the end", async () => {
    const name = "k".repeat(1100); // R2 keys are at most 1024 bytes
    expect(await failure(store().head(name))).toMatch(/\(10020\)/);
    expect(await failure(store().get(name))).toMatch(/\(10020\)/);
    const k = key("short");
    await store().putSmall(k, "ten bytes!", { contentType: "text/plain" });
    expect(await failure(store().get(k, { offset: 20, length: 5 }))).toMatch(/\(10039\)/);
  });

  it("every operation of a binding in an outage", async () => {
    const failing = new R2Store(r2InOutage(), sizes(100 * MiB));
    const data = bytes(1000);
    expect(await failure(failing.head("k"))).toMatch(/^R2 head k failed: .*\(10001\)/);
    await failure(failing.get("k"));
    await failure(failing.getIfUnchanged("k", '"e"', { offset: 0, length: 1 }));
    await failure(failing.putSmall("k", "x", { contentType: "text/plain" }));
    await failure(failing.putStream("k", sizedOf(data, data.length), data.length, opts));
    await failure(new R2Store(r2InOutage(), sizes(0)).putStream("k", streamOf(data), undefined, opts)); // multipart
    await failure(failing.delete("k"));
    await failure(
      (async () => {
        for await (const _ of failing.list("")) break;
      })(),
    );
  });
});
