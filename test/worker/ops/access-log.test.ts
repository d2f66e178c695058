/**
 * The access log: one `request` line per request, written after the body was delivered or broke,
 * with the cache outcome, the upstream and the Julia client headers; X-Cache and X-Request-ID on
 * the response.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, testWorker, outcome, upstream, type TestWorker } from "../harness";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const big = () => `/artifact/${manifest.objects[manifest.bigArtifact]!.treeHash}`;

const JULIA = {
  "Julia-Version": "1.11.2",
  "Julia-System": "x86_64-linux-gnu-libgfortran5-cxx11-libstdcxx30-julia_version+1.11.2",
  "Julia-CI-Variables": "CI=t;GITHUB_ACTIONS=t",
  "Julia-Interactive": "false",
  "Julia-Pkg-Server": "https://pkg.example.org",
  "User-Agent": "Pkg.jl (HTTP.jl)",
};

type Line = Record<string, unknown>;

/** Captures the `request` lines the worker writes (info for whole answers, warn for broken ones). */
function capture(): () => Line[] {
  const info = vi.spyOn(console, "log");
  const warn = vi.spyOn(console, "warn");
  return () =>
    [...info.mock.calls, ...warn.mock.calls]
      .map((c) => String(c[0]))
      .filter((l) => l.includes('"event":"request"'))
      .map((l) => JSON.parse(l) as Line);
}

async function lineFor(m: TestWorker, lines: () => Line[], requestId: string): Promise<Line> {
  await m.settle();
  const found = lines().filter((l) => l.request_id === requestId);
  expect(found.length, `one request line for ${requestId}`).toBe(1);
  return found[0]!;
}

describe("the access log", () => {
  it("logs a miss then a hit, with the bytes, the outcome, the upstream (of the miss only) and the Julia headers", async () => {
    const lines = capture();
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const miss = await m.fetch(pkg(), { headers: { ...JULIA, "X-Request-ID": "req-miss-1" } });
    expect(miss.headers.get("x-cache")).toBe("MISS");
    expect(miss.headers.get("x-cache-miss")).toBe("miss");
    expect(miss.headers.get("x-request-id")).toBe("req-miss-1");
    const size = (await miss.arrayBuffer()).byteLength;
    const missLine = await lineFor(m, lines, "req-miss-1");
    expect(missLine).toMatchObject({
      level: "info",
      method: "GET",
      path: pkg(),
      status: 200,
      bytes: size,
      broken: false,
      cache: "miss",
      upstream: up.url,
      kind: "package",
      uuid: manifest.example.uuid,
      julia_version: "1.11.2",
      julia_system: JULIA["Julia-System"],
      julia_ci_variables: "CI=t;GITHUB_ACTIONS=t",
      julia_interactive: "false",
      julia_pkg_server: "https://pkg.example.org",
      user_agent: "Pkg.jl (HTTP.jl)",
    });
    expect(typeof missLine.duration_ms).toBe("number");
    expect(Date.parse(String(missLine.time))).not.toBeNaN();
    expect(missLine).not.toHaveProperty("client");

    const hit = await m.fetch(pkg(), { headers: { "X-Request-ID": "req-hit-1" } });
    expect(hit.headers.get("x-cache")).toBe("HIT");
    expect(hit.headers.has("x-cache-miss")).toBe(false);
    await hit.arrayBuffer();
    expect(await lineFor(m, lines, "req-hit-1")).toMatchObject({
      status: 200,
      bytes: size,
      broken: false,
      cache: "hit",
      upstream: null, // nothing was asked of an upstream
      julia_version: null,
    });
  });

  it("marks a requester of a running fill as joined", async () => {
    const lines = capture();
    const up = await upstream({ faults: { [big()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const [a, b] = await Promise.all(["req-a", "req-b"].map((id) => m.fetch(big(), { headers: { "X-Request-ID": id } })));
    expect([a!.headers.get("x-cache"), b!.headers.get("x-cache")].sort()).toEqual(["JOINED", "MISS"]);
    await Promise.all([a!.arrayBuffer(), b!.arrayBuffer()]);
    const outcomes = [(await lineFor(m, lines, "req-a")).cache, (await lineFor(m, lines, "req-b")).cache].sort();
    expect(outcomes).toEqual(["joined", "miss"]);
  });

  it("logs a download that broke as broken, with the status that went out (bytes null: a body of known length is streamed natively, which does not say how far it got)", async () => {
    const lines = capture();
    const bad = await upstream({ faults: { [pkg()]: "truncate" } });
    // A cold package streams (rather than waiting for its verdict) when too large to wait for.
    const m = testWorker({ UPSTREAM_SERVERS: bad.url, UPSTREAM_IDLE_TIMEOUT_MS: "300", VERIFY_FIRST_MAX_BYTES: "0" });
    const res = await m.fetch(pkg(), { headers: { "X-Request-ID": "req-broken" } });
    expect((await outcome(res)).clean).toBe(false);
    const line = await lineFor(m, lines, "req-broken");
    expect(line).toMatchObject({ level: "warn", status: 200, broken: true, cache: "miss", bytes: null });
  });

  it("logs a hit the client stopped reading as broken", async () => {
    const lines = capture();
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await (await m.fetch(big())).arrayBuffer();
    await m.settle();
    const res = await m.fetch(big(), { headers: { "X-Request-ID": "req-left" } });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(await lineFor(m, lines, "req-left")).toMatchObject({ status: 200, broken: true, cache: "hit" });
  });

  it("logs a resource nobody has as negative, and an outage as error", async () => {
    const lines = capture();
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const missing = `/artifact/${"1".repeat(40)}`;
    expect((await m.fetch(missing, { headers: { "X-Request-ID": "req-404" } })).status).toBe(404);
    expect(await lineFor(m, lines, "req-404")).toMatchObject({ status: 404, bytes: 0, cache: "negative", kind: "artifact" });
    const down = testWorker({ UPSTREAM_SERVERS: "http://127.0.0.1:9" });
    const res = await down.fetch(missing, { headers: { "X-Request-ID": "req-502" } });
    expect(res.status).toBe(502);
    await res.arrayBuffer();
    expect(await lineFor(down, lines, "req-502")).toMatchObject({ status: 502, cache: "error", broken: false });
  });

  it("ACCESS_LOG=errors keeps only failed and broken requests' lines, off keeps none", async () => {
    const lines = capture();
    const up = await upstream();
    const errorsOnly = testWorker({ UPSTREAM_SERVERS: up.url, ACCESS_LOG: "errors" });
    await (await errorsOnly.fetch("/robots.txt", { headers: { "X-Request-ID": "quiet-ok" } })).text();
    await (await errorsOnly.fetch(pkg(), { headers: { "X-Request-ID": "quiet-hit" } })).arrayBuffer();
    const down = testWorker({ UPSTREAM_SERVERS: "http://127.0.0.1:9", ACCESS_LOG: "errors" });
    await (await down.fetch(`/artifact/${"3".repeat(40)}`, { headers: { "X-Request-ID": "loud-502" } })).arrayBuffer(); // not in the bucket: 502
    const off = testWorker({ UPSTREAM_SERVERS: "http://127.0.0.1:9", ACCESS_LOG: "off" });
    await (await off.fetch(`/artifact/${"4".repeat(40)}`, { headers: { "X-Request-ID": "silent-502" } })).arrayBuffer();
    await errorsOnly.settle();
    await down.settle();
    await off.settle();
    expect(lines().map((l) => l.request_id)).toEqual(["loud-502"]);
    expect((await testWorker({ ACCESS_LOG: "some" }).fetch("/meta")).status).toBe(500);
  });

  it("generates a request ID when the client sends none (or an unusable one), and echoes it", async () => {
    const lines = capture();
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    const res = await m.fetch("/robots.txt", { headers: { "X-Request-ID": "bad id with spaces" } });
    const id = res.headers.get("x-request-id")!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await res.text();
    expect(await lineFor(m, lines, id)).toMatchObject({ path: "/robots.txt", status: 200, cache: null });
  });

  it("logs no client address, and a keyed hash of it only with CLIENT_HASH_KEY", async () => {
    const lines = capture();
    const up = await upstream();
    const plain = testWorker({ UPSTREAM_SERVERS: up.url });
    await (await plain.fetch("/robots.txt", { headers: { "X-Request-ID": "req-ip-1", "CF-Connecting-IP": "203.0.113.7" } })).text();
    const line = await lineFor(plain, lines, "req-ip-1");
    expect(JSON.stringify(line)).not.toContain("203.0.113.7");
    const hashed = testWorker({ UPSTREAM_SERVERS: up.url, CLIENT_HASH_KEY: "operator secret" });
    for (const id of ["req-ip-2", "req-ip-3"])
      await (await hashed.fetch("/robots.txt", { headers: { "X-Request-ID": id, "CF-Connecting-IP": "203.0.113.7" } })).text();
    const [a, b] = [await lineFor(hashed, lines, "req-ip-2"), await lineFor(hashed, lines, "req-ip-3")];
    expect(a.client).toMatch(/^[0-9a-f]{16}$/);
    expect(a.client).toBe(b.client);
    expect(JSON.stringify(a)).not.toContain("203.0.113.7");
  });
});

describe("values from outside are bounded", () => {
  const bytes = (s: string) => new TextEncoder().encode(s).byteLength;
  const huge = (prefix: string) => prefix + "x".repeat(15_000);
  const HUGE = {
    "Julia-Version": huge("1.10.4-"),
    "Julia-System": huge("x86_64-linux-gnu-"),
    "Julia-CI-Variables": huge("CI=t;"),
    "Julia-Interactive": huge("false-"),
    "Julia-Pkg-Server": huge("https://pkg.example.org/"),
    "User-Agent": huge("Pkg.jl "),
  };

  it("a request with huge Julia-* headers still makes an Analytics Engine data point within its limits", async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, ANALYTICS: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } });
    await (await m.fetch(pkg(), { headers: { ...HUGE, "X-Request-ID": "req-huge-point" } })).arrayBuffer();
    await m.settle();
    expect(points.length).toBe(1);
    const blobs = points[0]!.blobs as string[];
    // Analytics Engine keeps a point only if its blobs add up to at most 16 KB and its index to 96 bytes.
    expect(blobs.reduce((n, b) => n + bytes(b), 0)).toBeLessThanOrEqual(16 * 1024);
    expect(bytes(String(points[0]!.indexes![0]))).toBeLessThanOrEqual(96);
    for (const b of blobs) expect(bytes(b)).toBeLessThanOrEqual(1024);
    // Still counted where it belongs, with the start of what it sent.
    expect(blobs.slice(0, 4)).toEqual(["package", manifest.example.uuid, pkg(), "miss"]);
    expect(blobs[4]).toMatch(/^1\.10\.4-x+$/);
    expect(blobs[6]).toBe("ci");
    expect(blobs[8]).toMatch(/^CI=t;x+$/);
  });

  it("the access-log line carries each header cut to 1024 bytes, and says which were cut", async () => {
    const lines = capture();
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    await (await m.fetch(pkg(), { headers: { ...HUGE, "X-Request-ID": "req-huge-line" } })).arrayBuffer();
    const line = await lineFor(m, lines, "req-huge-line");
    const fields = ["julia_version", "julia_system", "julia_ci_variables", "julia_interactive", "julia_pkg_server", "user_agent"];
    for (const field of fields) {
      expect(bytes(String(line[field])), field).toBeLessThanOrEqual(1024);
      expect(bytes(String(line[field])), field).toBeGreaterThan(1000);
    }
    expect(line.julia_version).toMatch(/^1\.10\.4-x+$/);
    expect(line.truncated).toEqual(fields);
    expect(line.path).toBe(pkg());
    expect(JSON.stringify(line).length).toBeLessThan(10_000);
    const long = `/package/${"a".repeat(5000)}`;
    await (await m.fetch(long, { headers: { "X-Request-ID": "req-huge-path" } })).arrayBuffer();
    const longLine = await lineFor(m, lines, "req-huge-path");
    expect(longLine.path).toBe(long.slice(0, 1024));
    expect(longLine.truncated).toEqual(["path"]);
  });
});

describe("the first request of an isolate", () => {
  it("logs the configuration in effect once, without secrets", async () => {
    const info = vi.spyOn(console, "log");
    const up = await upstream();
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      GITHUB_TOKEN: "ghp_secret_value",
      CLIENT_HASH_KEY: "hash secret",
      BINARY_MIRRORS: "rel=http://127.0.0.1:9/b",
    });
    await (await m.fetch("/robots.txt")).text();
    await (await m.fetch("/robots.txt")).text();
    await m.settle();
    const lines = info.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"event":"config"'));
    expect(lines.length).toBe(1);
    expect(lines[0]).not.toContain("ghp_secret_value");
    expect(lines[0]).not.toContain("hash secret");
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: "info",
      upstreams: [up.url],
      binary_mirrors: ["rel=http://127.0.0.1:9/b"],
      secrets_set: { github_token: true, client_hash_key: true },
      ttl_seconds: { registry: 60, binary_mirror: 600 },
    });
    expect((JSON.parse(lines[0]!) as { storage: { kind: string } }).storage.kind).toMatch(/^(r2|s3)$/);
  });
});
