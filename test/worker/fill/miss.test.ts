import { parseConfig } from "../../../worker/config";
import { describe, expect, it } from "vitest";
import { backend, bucketKeys, fixtureBytes, manifest, testWorker, sha256, storedBytes, storedInfo, upstream } from "../harness";

const pkg = (v = "0.5.3") => `/package/${manifest.example.uuid}/${manifest.example.versions[v]}`;

const stored = (path: string) => storedBytes(path.slice(1));

async function body(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Reads a response body to the end; resolves to the bytes, or to the error that broke the stream. */
async function readToEnd(res: Response): Promise<{ bytes: Uint8Array } | { error: unknown }> {
  try {
    return { bytes: await body(res) };
  } catch (error) {
    return { error };
  }
}

describe("miss path (protocol.md §6.3)", () => {
  it("streams the upstream bytes with X-Cache-Miss and commits them to the bucket", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const expected = await fixtureBytes(pkg());
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-cache-miss")).toBe("miss");
    expect(res.headers.get("content-type")).toBe("application/x-gzip");
    expect(res.headers.get("content-length")).toBe(String(expected.length));
    expect(res.headers.has("content-encoding")).toBe(false);
    expect(await body(res)).toEqual(expected);
    await m.settle();
    expect(await stored(pkg())).toEqual(expected);
    const obj = await storedInfo(pkg().slice(1));
    expect(obj?.contentType).toBe("application/x-gzip");
    expect(obj?.customMetadata?.upstream).toBe(up.url);

    const warm = await m.fetch(pkg());
    expect(warm.headers.has("x-cache-miss")).toBe(false);
    expect(await body(warm)).toEqual(expected);
    // One upstream: its GET is the probe (no HEAD first); the warm request asks nobody.
    expect((await up.log()).map((r) => r.method)).toEqual(["GET"]);
  });

  it("probes with HEAD first where there are upstreams to choose between", async () => {
    const [a, b] = [await upstream(), await upstream()];
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    expect(await body(await m.fetch(pkg()))).toEqual(await fixtureBytes(pkg()));
    await m.settle();
    const asked = [...(await a.log()), ...(await b.log())].map((r) => r.method).sort();
    expect(asked).toEqual(["GET", "HEAD", "HEAD"]);
  });

  it("with one upstream, reads a 404 or 410 to its GET as absence and anything else as an outage, as a probe would", async () => {
    const up = await upstream({ faults: { [pkg()]: "status-410" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    expect((await m.fetch(pkg())).status).toBe(404);
    const failing = await upstream({ faults: { [pkg()]: "status-403" } });
    const n = testWorker({ UPSTREAM_SERVERS: failing.url });
    const res = await n.fetch(pkg());
    expect(res.status).toBe(502);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/GET answered HTTP 403 Forbidden/);
    expect(await bucketKeys()).toEqual([]);
  });

  it("never asks upstream for zstd, even when the client does (protocol.md §4.4)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkg(), { headers: { "accept-encoding": "zstd, gzip", "julia-version": "1.13.0" } });
    const b = await body(res);
    expect([b[0], b[1]]).toEqual([0x1f, 0x8b]);
    for (const r of await up.log()) expect(r.headers["accept-encoding"] ?? "").not.toMatch(/zstd/);
    await m.settle();
  });

  it("404s with no-store when no upstream has it, and remembers that (C26, C27)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const missing = `/artifact/${"0".repeat(40)}`;
    for (let i = 0; i < 5; i++) {
      const res = await m.fetch(missing);
      expect(res.status).toBe(404);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    expect((await up.log()).length).toBe(1); // one HEAD; the other four were answered from memory
    expect(await bucketKeys()).toEqual([]);
  });

  it("asks upstream again once the negative memory expires", async () => {
    const up = await upstream({ only: [] });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, NEGATIVE_TTL_SECONDS: "1" });
    expect((await m.fetch(pkg())).status).toBe(404);
    await up.reconfigure({});
    expect((await m.fetch(pkg())).status).toBe(404); // still remembered
    await new Promise((r) => setTimeout(r, 1100));
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    await body(res);
    await m.settle();
  });

  it("probes every upstream and fills from one that has it", async () => {
    const empty = await upstream({ only: [] });
    const full = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: `${empty.url},${full.url}` });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    expect(await body(res)).toEqual(await fixtureBytes(pkg()));
    await m.settle();
    expect((await empty.log()).map((r) => r.method)).toEqual(["HEAD"]);
    expect((await full.log()).map((r) => r.method)).toEqual(["HEAD", "GET"]);
  });

  it("falls back to the next upstream when the GET fails (C46, E10)", async () => {
    const bad = await upstream({ faults: { [pkg()]: "get-503" } });
    const good = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}` });
    // Make sure the failing upstream wins the HEAD race by giving the good one nothing to race with first.
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    expect(await body(res)).toEqual(await fixtureBytes(pkg()));
    await m.settle();
    expect(await stored(pkg())).toEqual(await fixtureBytes(pkg()));
  });

  it("fails the request when every GET fails after a HEAD said yes, and stores nothing (C46)", async () => {
    const bad = await upstream({ faults: { [pkg()]: "get-503" } });
    const m = testWorker({ UPSTREAM_SERVERS: bad.url });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(502);
    expect(res.headers.get("cache-control")).toBe("no-store");
    await res.arrayBuffer();
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("follows upstream redirects", async () => {
    const up = await upstream({ faults: { [pkg()]: "redirect" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    expect(await body(res)).toEqual(await fixtureBytes(pkg()));
    await m.settle();
    expect(await stored(pkg())).toEqual(await fixtureBytes(pkg()));
  });

  it("never stores a truncated body, and a client that could wait gets an error status (C47, E15)", async () => {
    const up = await upstream({ faults: { [pkg()]: "truncate" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(502);
    await res.body?.cancel();
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("never stores a truncated body, and a streaming client's stream breaks (C47, E15)", async () => {
    const up = await upstream({ faults: { [pkg()]: "truncate" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, VERIFY_FIRST_MAX_BYTES: "0" });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(200);
    const result = await readToEnd(res);
    expect("error" in result).toBe(true);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("never stores a body longer than its Content-Length", async () => {
    const up = await upstream({ faults: { [pkg()]: "overlong" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkg());
    const expected = await fixtureBytes(pkg());
    // The runtime reads exactly Content-Length bytes and leaves the extra on the connection: the
    // client gets the announced body, verified, and the bucket holds those bytes and no more.
    expect(res.status).toBe(200);
    expect(await readToEnd(res)).toEqual({ bytes: expected });
    await m.settle();
    expect(await stored(pkg())).toEqual(expected);
    expect((await storedInfo(pkg().slice(1)))?.size).toBe(expected.length);
  });

  it("stores a body sent without Content-Length (E9) through a multipart upload", async () => {
    const up = await upstream({ faults: { [manifest.bigArtifact]: "no-length" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(manifest.bigArtifact);
    expect(res.status).toBe(200);
    expect(res.headers.has("content-length")).toBe(false);
    const expected = await fixtureBytes(manifest.bigArtifact);
    expect(await body(res)).toEqual(expected);
    await m.settle();
    expect(await stored(manifest.bigArtifact)).toEqual(expected);
  });

  it("answers a cold HEAD with the Content-Length the GET then delivers, from the same upstream (C51, E8)", async () => {
    const a = await upstream();
    const b = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    const head = await m.fetch(pkg(), { method: "HEAD" });
    expect(head.status).toBe(200);
    const length = head.headers.get("content-length");
    expect(length).toBe(String((await fixtureBytes(pkg())).length));
    expect(await m.fetch(`/artifact/${"1".repeat(40)}`, { method: "HEAD" }).then((r) => r.status)).toBe(404);
    const get = await m.fetch(pkg());
    expect(get.headers.get("content-length")).toBe(length);
    expect((await body(get)).length).toBe(Number(length));
    await m.settle();
    const gets = [...(await a.log()), ...(await b.log())].filter((r) => r.method === "GET" && r.path === pkg());
    expect(gets.length).toBe(1);
    const heads = [...(await a.log()), ...(await b.log())].filter((r) => r.method === "HEAD" && r.path === pkg());
    expect(heads.length).toBe(2); // one probe per upstream; the GET reused it
  });

  it("serves a range of a cold resource correctly while the whole object is filled (C20, E17)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const expected = await fixtureBytes(manifest.bigArtifact);
    const res = await m.fetch(manifest.bigArtifact, { headers: { range: "bytes=1000-2999" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 1000-2999/${expected.length}`);
    expect(await body(res)).toEqual(expected.subarray(1000, 3000));
    await m.settle();
    expect(await stored(manifest.bigArtifact)).toEqual(expected);
    const unsat = await m.fetch(pkg(), { headers: { range: `bytes=999999-` } });
    expect(unsat.status).toBe(416);
    await m.settle();
  });

  it("answers a cold range that carries If-Range with the whole object: the client's part is of no version served yet", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const expected = await fixtureBytes(manifest.bigArtifact);
    const res = await m.fetch(manifest.bigArtifact, { headers: { range: "bytes=1000-2999", "if-range": '"from-another-server"' } });
    expect(res.status).toBe(200);
    expect(res.headers.has("content-range")).toBe(false);
    expect(await body(res)).toEqual(expected);
    await m.settle();
  });

  it("stores an object of several multipart parts byte for byte", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, MULTIPART_THRESHOLD_BYTES: "0", MULTIPART_PART_BYTES: String(5 * 1024 * 1024) });
    const expected = await fixtureBytes(manifest.largeArtifact);
    expect(await sha256(await body(await m.fetch(manifest.largeArtifact)))).toBe(await sha256(expected));
    await m.settle();
    expect(await sha256((await stored(manifest.largeArtifact))!)).toBe(await sha256(expected));
    // R2 (like AWS S3) gives a multipart object an etag with its part count; the local S3 server does not.
    if (backend === "r2") expect((await storedInfo(manifest.largeArtifact.slice(1)))?.etag).toMatch(/-3"$/); // 5 + 5 + 2 MiB
  });

  it("writes objects up to R2's single-upload limit with one put by default (they read back fastest)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    // The default itself: anything lower would write large artifacts as multipart objects.
    expect(parseConfig({}).multipartThresholdBytes).toBe(5 * 1024 ** 3 - 5 * 1024 ** 2);
    const expected = await fixtureBytes(manifest.largeArtifact);
    expect(await sha256(await body(await m.fetch(manifest.largeArtifact)))).toBe(await sha256(expected));
    await m.settle();
    if (backend === "r2") expect((await storedInfo(manifest.largeArtifact.slice(1)))?.etag).not.toMatch(/-\d+"$/);
  });

  it("uses a multipart upload above the threshold and stores identical bytes", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, MULTIPART_THRESHOLD_BYTES: "0" });
    const expected = await fixtureBytes(manifest.bigArtifact);
    const res = await m.fetch(manifest.bigArtifact);
    expect(await body(res)).toEqual(expected);
    await m.settle();
    expect(await stored(manifest.bigArtifact)).toEqual(expected);
    // R2 gives multipart objects an etag with a part-count suffix: proof the multipart path ran.
    if (backend === "r2") expect((await storedInfo(manifest.bigArtifact.slice(1)))?.etag).toMatch(/-\d+"$/);
  });
});
