import { beforeEach, describe, expect, it } from "vitest";
import { bucket, fixtureBytes, manifest, testWorker, putObject, upstream, type TestWorker, type Upstream } from "../harness";
import { answerFromInfo, type Presentation } from "../../../worker/routes/stored";

const path = () => manifest.bigArtifact;
let bytes: Uint8Array;
let up: Upstream;
let m: TestWorker;

beforeEach(async () => {
  bytes = await fixtureBytes(path());
  // The bucket is a static storage server: its keys are the protocol paths.
  await putObject(path().slice(1), bytes);
  up = await upstream();
  m = testWorker({ UPSTREAM_SERVERS: up.url });
});

async function body(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

describe("hit path (protocol.md §3.1, §4)", () => {
  it("serves the stored bytes with the tarball headers and never touches upstream", async () => {
    const res = await m.fetch(path());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-gzip");
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable, no-transform");
    expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
    expect(new Date(res.headers.get("last-modified")!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(res.headers.has("content-encoding")).toBe(false);
    expect(res.headers.has("x-cache-miss")).toBe(false);
    expect(await body(res)).toEqual(bytes);
    expect(await up.log()).toEqual([]);
  });

  it("answers HEAD with the same headers and Content-Length, and no body (C8, C12)", async () => {
    const get = await m.fetch(path());
    await get.arrayBuffer();
    const head = await m.fetch(path(), { method: "HEAD" });
    expect(head.status).toBe(200);
    for (const h of ["content-type", "content-length", "etag", "last-modified", "cache-control", "accept-ranges"]) {
      expect(head.headers.get(h), h).toBe(get.headers.get(h));
    }
    expect((await body(head)).length).toBe(0);
  });

  it("serves gzip bytes whatever the client accepts (C34, C35, E16)", async () => {
    for (const ae of ["gzip", "zstd, gzip", "br", "identity"]) {
      const res = await m.fetch(path(), { headers: { "accept-encoding": ae } });
      const b = await body(res);
      expect([b[0], b[1]]).toEqual([0x1f, 0x8b]);
      expect(res.headers.has("content-encoding")).toBe(false);
    }
  });

  it("answers If-None-Match with 304 (protocol.md §4.3)", async () => {
    const etag = (await m.fetch(path(), { method: "HEAD" })).headers.get("etag")!;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const res = await m.fetch(path(), { headers: { "if-none-match": inm } });
      expect(res.status, inm).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect((await body(res)).length).toBe(0);
    }
    const changed = await m.fetch(path(), { headers: { "if-none-match": '"something-else"' } });
    expect(changed.status).toBe(200);
    expect(await body(changed)).toEqual(bytes);
  });

  describe("ranges (C14–C19)", () => {
    const L = () => bytes.length;
    it.each([
      ["bytes=0-1023", () => [0, 1023]],
      ["bytes=1024-", () => [1024, L() - 1]],
      ["bytes=-2047", () => [L() - 2047, L() - 1]],
      ["bytes=100-99999999", () => [100, L() - 1]],
    ])("%s → 206 with the right bytes", async (range, span) => {
      const [start, end] = span() as [number, number];
      const res = await m.fetch(path(), { headers: { range } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${L()}`);
      expect(res.headers.get("content-length")).toBe(String(end - start + 1));
      expect(await body(res)).toEqual(bytes.subarray(start, end + 1));
    });

    it.each(["bytes=2-1", "bytes=-0", "LENGTH"])("%s → 416 with Content-Range bytes */len", async (range) => {
      const res = await m.fetch(path(), { headers: { range: range === "LENGTH" ? `bytes=${L()}-` : range } });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe(`bytes */${L()}`);
    });

    it("multi-range → 200 with the whole body (E19)", async () => {
      const res = await m.fetch(path(), { headers: { range: "bytes=0-1,5-9" } });
      expect(res.status).toBe(200);
      expect(await body(res)).toEqual(bytes);
    });

    it("If-Range with the current ETag, or with ZSTD=off its Last-Modified: the range applies (RFC 9110 §13.1.5)", async () => {
      const head = await m.fetch(path(), { method: "HEAD" });
      const gzipOnly = testWorker({ UPSTREAM_SERVERS: up.url, ZSTD: "off" });
      for (const [worker, ifRange] of [
        [m, head.headers.get("etag")!],
        [gzipOnly, head.headers.get("last-modified")!],
      ] as const) {
        const res = await worker.fetch(path(), { headers: { range: "bytes=10-19", "if-range": ifRange } });
        expect(res.status, ifRange).toBe(206);
        expect(res.headers.get("content-range")).toBe(`bytes 10-19/${L()}`);
        expect(await body(res)).toEqual(bytes.subarray(10, 20));
      }
    });

    it("If-Range with a date while zstd variants are on: the whole object (a date does not tell gzip from zstd)", async () => {
      const date = (await m.fetch(path(), { method: "HEAD" })).headers.get("last-modified")!;
      const res = await m.fetch(path(), { headers: { range: "bytes=10-19", "if-range": date } });
      expect(res.status).toBe(200);
      expect(await body(res)).toEqual(bytes);
    });

    it("If-Range with another ETag, a weak one or another date: the whole object, 200", async () => {
      const etag = (await m.fetch(path(), { method: "HEAD" })).headers.get("etag")!;
      for (const ifRange of ['"another-version"', `W/${etag}`, "Thu, 01 Jan 2026 00:00:00 GMT"]) {
        const res = await m.fetch(path(), { headers: { range: "bytes=10-19", "if-range": ifRange } });
        expect(res.status, ifRange).toBe(200);
        expect(res.headers.has("content-range")).toBe(false);
        expect(res.headers.get("content-length")).toBe(String(L()));
        expect(await body(res)).toEqual(bytes);
      }
      // Not even a range the object cannot satisfy is answered 416: the client's copy is of another version.
      const past = await m.fetch(path(), { headers: { range: `bytes=${L()}-`, "if-range": '"another-version"' } });
      expect(past.status).toBe(200);
      expect(await body(past)).toEqual(bytes);
    });

    it("HEAD with a range reports the partial length", async () => {
      const res = await m.fetch(path(), { method: "HEAD", headers: { range: "bytes=0-9" } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-length")).toBe("10");
    });
  });
});

describe("a stored object replaced between its metadata and its bytes", () => {
  // A file the binary mirror revalidates (versions.json, a nightly) is rewritten under the same key
  // while a ranged request that already read its metadata is about to read its bytes.
  const shown: Presentation = {
    headers: (info) => new Headers({ etag: info.etag, "last-modified": info.uploaded.toUTCString() }),
    immutable: false,
  };
  const asked = { head: false, rangeHeader: "bytes=0-9", ifNoneMatch: null, ifRange: null };
  const k = "mirror/nightlies/versions.json";
  const text = (s: string) => new TextEncoder().encode(s);

  it("is answered whole from its current version, never the old ETag with new bytes", async () => {
    const store = bucket();
    await putObject(k, text("version one, the old bytes"), "application/json");
    const old = (await store.head(k))!;
    const fresh = text("VERSION TWO, THE NEW BYTES, LONGER");
    await putObject(k, fresh, "application/json");
    const res = (await answerFromInfo(store, old, shown, asked))!;
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe((await store.head(k))!.etag);
    expect(res.headers.get("etag")).not.toBe(old.etag);
    expect(res.headers.get("content-length")).toBe(String(fresh.length));
    expect(res.headers.has("content-range")).toBe(false);
    expect(await body(res)).toEqual(fresh);
  });

  it("is a miss (null) when it was deleted instead", async () => {
    const store = bucket();
    await putObject(k, text("version one"), "application/json");
    const old = (await store.head(k))!;
    await store.delete(k);
    expect(await answerFromInfo(store, old, shown, asked)).toBeNull();
  });

  it("still answers 304 to If-None-Match naming the version it now has", async () => {
    const store = bucket();
    await putObject(k, text("version one"), "application/json");
    const old = (await store.head(k))!;
    await putObject(k, text("version two"), "application/json");
    const current = (await store.head(k))!.etag;
    const res = (await answerFromInfo(store, old, shown, { ...asked, ifNoneMatch: current }))!;
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe(current);
  });
});
