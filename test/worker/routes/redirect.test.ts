/**
 * STORED_REDIRECT_BASE: a GET of a tarball the bucket holds is answered with a 302 to the bucket's
 * public domain; anything not known to be stored is answered as without the setting (a 404 from the
 * bucket's domain would send Pkg to GitHub).
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  fixtureBytes,
  manifest,
  putObject,
  storedInfo as storedInfoOf,
  testWorker,
  upstream,
  type TestWorker,
  type Upstream,
} from "../harness";

const BASE = "https://pkg-cdn.example.org";
const JULIA_113 = { "accept-encoding": "zstd, gzip" };

const packagePath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
const artifactPath = () => manifest.bigArtifact;
const registryPath = () => manifest.snapshots[0]!;

let up: Upstream;
let m: TestWorker;

beforeEach(async () => {
  up = await upstream();
  m = testWorker({ UPSTREAM_SERVERS: up.url, STORED_REDIRECT_BASE: BASE });
});

afterEach(async () => {
  await m.settle();
  vi.restoreAllMocks();
});

async function store(path: string): Promise<Uint8Array> {
  const bytes = await fixtureBytes(path);
  await putObject(path.slice(1), bytes);
  return bytes;
}

async function bodyOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

describe("a stored tarball is redirected to the bucket's domain", () => {
  it.each([
    ["a package", packagePath],
    ["an artifact", artifactPath],
    ["a registry snapshot", registryPath],
  ])("%s: 302 to <base>/<bucket key>, not stored, no body, no upstream asked", async (_what, path) => {
    await store(path());
    const res = await m.fetch(path());
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${BASE}${path()}`);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-cache")).toBe("REDIRECT");
    expect((await bodyOf(res)).length).toBe(0);
    expect(await up.log()).toEqual([]);
  });

  it("keeps a path in the base and works under PATH_PREFIX (the key has no prefix)", async () => {
    await store(packagePath());
    const prefixed = testWorker({ UPSTREAM_SERVERS: up.url, STORED_REDIRECT_BASE: `${BASE}/julia/`, PATH_PREFIX: "/mirror-root" });
    const res = await prefixed.fetch(`/mirror-root${packagePath()}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${BASE}/julia${packagePath()}`);
    await prefixed.settle();
  });

  it("redirects a ranged GET too: the bucket's domain serves ranges itself", async () => {
    await store(artifactPath());
    const res = await m.fetch(artifactPath(), { headers: { range: "bytes=0-1023" } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${BASE}${artifactPath()}`);
  });

  it("answers a HEAD here, as without the setting (metadata only, no bytes to save)", async () => {
    const bytes = await store(artifactPath());
    const res = await m.fetch(artifactPath(), { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.has("location")).toBe(false);
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    expect(res.headers.get("x-cache")).toBe("HIT");
  });

  it("logs the redirect as its own outcome, with 0 bytes and the Julia headers", async () => {
    const info = vi.spyOn(console, "log");
    await store(packagePath());
    const res = await m.fetch(packagePath(), { headers: { "Julia-Version": "1.5.3", "X-Request-ID": "req-redirect-1" } });
    expect(res.status).toBe(302);
    await m.settle();
    const lines = info.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('"event":"request"') && l.includes("req-redirect-1"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      status: 302,
      bytes: 0,
      cache: "redirect",
      upstream: null,
      kind: "package",
      julia_version: "1.5.3",
      encoding: "gzip",
    });
  });
});

describe("analytics", () => {
  it("writes one data point per redirected download: outcome redirect, status 302, 0 bytes", async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const counted = testWorker({
      UPSTREAM_SERVERS: up.url,
      STORED_REDIRECT_BASE: BASE,
      ANALYTICS: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) },
    });
    await store(packagePath());
    expect((await counted.fetch(packagePath(), { headers: { "Julia-Version": "1.5.3" } })).status).toBe(302);
    await counted.settle();
    expect(points).toHaveLength(1);
    const point = points[0]!;
    expect(point.blobs?.slice(0, 5)).toEqual(["package", manifest.example.uuid, packagePath(), "redirect", "1.5.3"]);
    expect(point.doubles?.slice(0, 2)).toEqual([302, 0]);
  });
});

describe("/meta/stats", () => {
  it("counts a redirected download in the encodings it was sent to, as a streamed hit is counted", async () => {
    // redirected() notes the encoding the Location names, but the counts take encodings only from
    // 200 and 206: with the setting on, every hit (most downloads) vanished from the breakdown.
    await store(packagePath());
    await putObject(`${packagePath().slice(1)}.tar.zst`, new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), "application/zstd");
    expect((await m.fetch(packagePath())).status).toBe(302);
    expect((await m.fetch(packagePath(), { headers: JULIA_113 })).status).toBe(302);
    await m.settle();
    const stats = (await (await m.fetch("/meta/stats")).json()) as { encodings: Record<string, number>; outcomes: Record<string, number> };
    expect(stats.outcomes.redirect).toBe(2);
    expect(stats.encodings).toEqual({ gzip: 1, zstd: 1 });
  });
});

describe("what is not known to be stored is never redirected", () => {
  it("streams a miss from upstream, and redirects the next request once it is stored", async () => {
    const first = await m.fetch(packagePath());
    expect(first.status).toBe(200);
    expect(first.headers.has("location")).toBe(false);
    expect(first.headers.get("x-cache")).toBe("MISS");
    expect(await bodyOf(first)).toEqual(await fixtureBytes(packagePath()));
    await m.settle();
    const second = await m.fetch(packagePath());
    expect(second.status).toBe(302);
    expect(second.headers.get("location")).toBe(`${BASE}${packagePath()}`);
  });

  it("answers 404 for a resource nobody has, without a Location", async () => {
    const missing = `/package/${manifest.example.uuid}/${"0".repeat(40)}`;
    const res = await m.fetch(missing);
    expect(res.status).toBe(404);
    expect(res.headers.has("location")).toBe(false);
  });

  it("answers the registry lists as always: /registries points at pkgedge's own list, never the bucket", async () => {
    const res = await m.fetch("/registries");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")!.startsWith("/registries.")).toBe(true);
    const list = await m.fetch(res.headers.get("location")!);
    expect(list.headers.get("location")).toBeNull();
    await list.arrayBuffer();
  });

  it.each([
    "/package/../artifact/x",
    "/package/%2e%2e/%2e%2e/x",
    "//evil.example.org/package/x",
    "/package/not-a-uuid/0123456789abcdef0123456789abcdef01234567",
    "/artifact/0123456789ABCDEF0123456789ABCDEF01234567",
    "/artifact/0123456789abcdef0123456789abcdef01234567/../../x",
    "/artifact/0123456789abcdef0123456789abcdef01234567.tar.zst",
  ])("refuses a hostile or malformed path %s with a 4xx before any lookup, never a redirect", async (path) => {
    await putObject("artifact/0123456789abcdef0123456789abcdef01234567", new Uint8Array([1, 2, 3]));
    await putObject("artifact/0123456789abcdef0123456789abcdef01234567.tar.zst", new Uint8Array([1, 2, 3]));
    const res = await m.fetch(path);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.has("location")).toBe(false);
    expect(await up.log()).toEqual([]);
  });
});

describe("zstd: the client is sent only to an encoding that is stored and that it accepts", () => {
  const variantKey = () => `${packagePath().slice(1)}.tar.zst`;

  it("sends a zstd client to the gzip tarball while no variant is stored, to the variant once one is", async () => {
    await store(packagePath());
    const before = await m.fetch(packagePath(), { headers: JULIA_113 });
    expect(before.status).toBe(302);
    expect(before.headers.get("location")).toBe(`${BASE}${packagePath()}`);
    expect(before.headers.get("vary")).toBe("accept-encoding");
    await m.settle(); // ZSTD=on: that request had the variant made from the stored gzip copy
    const after = await m.fetch(packagePath(), { headers: JULIA_113 });
    expect(after.status).toBe(302);
    expect(after.headers.get("location")).toBe(`${BASE}/${variantKey()}`);
  });

  it("sends a client that does not ask for zstd to the gzip tarball, whatever is stored", async () => {
    await store(packagePath());
    await putObject(variantKey(), new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), "application/zstd");
    for (const headers of [{}, { "accept-encoding": "gzip" }, { "accept-encoding": "br, identity" }] as Record<string, string>[]) {
      const res = await m.fetch(packagePath(), { headers });
      expect(res.headers.get("location"), JSON.stringify(headers)).toBe(`${BASE}${packagePath()}`);
    }
  });

  it("judges a zstd client's If-Range date here, as without the setting: the bucket's domain would let the date complete a gzip prefix with zstd bytes", async () => {
    // Both copies usually share a Last-Modified second (the variant is made just after the gzip
    // copy), so pkgedge judges If-Range on negotiated tarballs by ETag alone (tarball.ts,
    // NEGOTIATED_TARBALL): a date never lets a range apply. The bucket's domain holds a date that
    // matches, and would answer 206 from the variant to a client holding part of the gzip copy.
    await store(packagePath());
    const gzip = await storedInfoOf(packagePath().slice(1));
    await putObject(variantKey(), new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), "application/zstd");
    const res = await m.fetch(packagePath(), {
      headers: { ...JULIA_113, range: "bytes=4-", "if-range": gzip!.uploaded.toUTCString() },
    });
    expect(res.headers.get("location")).toBeNull();
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("never names the variant with ZSTD=off", async () => {
    await store(packagePath());
    await putObject(variantKey(), new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), "application/zstd");
    const off = testWorker({ UPSTREAM_SERVERS: up.url, STORED_REDIRECT_BASE: BASE, ZSTD: "off" });
    const res = await off.fetch(packagePath(), { headers: JULIA_113 });
    expect(res.headers.get("location")).toBe(`${BASE}${packagePath()}`);
    expect(res.headers.has("vary")).toBe(false);
    await off.settle();
  });

  it("never sends a client without zstd to a stored variant: with no gzip copy stored, the tarball is filled and streamed", async () => {
    await putObject(variantKey(), new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), "application/zstd");
    const res = await m.fetch(packagePath());
    expect(res.headers.has("location")).toBe(false);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });
});

describe("configuration", () => {
  it.each(["protocol", "all"])("refuses the setting with AUTH=%s: every request is a 500 naming both variables", async (mode) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await store(packagePath());
    const bad = testWorker({ UPSTREAM_SERVERS: up.url, STORED_REDIRECT_BASE: BASE, AUTH: mode, AUTH_SIGNING_KEY: "s".repeat(40) });
    const res = await bad.fetch(packagePath());
    expect(res.status).toBe(500);
    expect(res.headers.has("location")).toBe(false);
    const body = await res.text();
    expect(body).toContain("STORED_REDIRECT_BASE");
    expect(body).toContain(`AUTH=${mode}`);
    await bad.settle();
  });

  it("refuses a base that is not https with a 500 naming the variable", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const bad = testWorker({ UPSTREAM_SERVERS: up.url, STORED_REDIRECT_BASE: "http://cdn.example.org" });
    const res = await bad.fetch(packagePath());
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("STORED_REDIRECT_BASE");
    await bad.settle();
  });

  it("streams stored hits as always when the setting is unset", async () => {
    const bytes = await store(packagePath());
    const plain = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await plain.fetch(packagePath());
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(bytes);
    await plain.settle();
  });
});
