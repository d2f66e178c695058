/**
 * Private upstreams (UPSTREAM_CREDENTIALS): the credential goes to its own upstream's origin only,
 * never to another upstream or past a redirect to another origin, and is never shown.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, outcome, sha256, testWorker, upstream } from "../harness";
import { credentialFor } from "../../../worker/upstream/credentials";
import { parseUpstreamCredentials } from "../../../worker/config/credentials";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const SECRET = "Bearer pkgedge-test-s3cr3t-value";

function everyLine(): () => string {
  const spies = (["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m));
  return () => spies.flatMap((s) => s.mock.calls.map((c) => c.map(String).join(" "))).join("\n");
}

describe("UPSTREAM_CREDENTIALS", () => {
  it("reaches its upstream, which answers 401 without it, and no other upstream", async () => {
    const lines = everyLine();
    const private_ = await upstream({ authorization: SECRET });
    const other = await upstream({ headDelayMs: 300 });
    const m = testWorker({
      UPSTREAM_SERVERS: `${private_.url},${other.url}`,
      UPSTREAM_CREDENTIALS: `${private_.url}=${SECRET}`,
      AUTH: "external",
    });
    const got = await outcome(await m.fetch(pkg()));
    expect(got.status).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    const privateLog = await private_.log();
    expect(privateLog.length).toBeGreaterThan(0);
    for (const r of privateLog) expect(r.headers.authorization, `${r.method} ${r.path}`).toBe(SECRET);
    for (const r of await other.log()) expect(r.headers.authorization, `${r.method} ${r.path}`).toBeUndefined();
    // Never shown: not in any log line, not in /meta.
    const meta = await (await m.fetch("/meta")).text();
    await m.settle();
    expect(meta).not.toContain("s3cr3t");
    expect(lines()).not.toContain("s3cr3t");
  });

  it("is needed: without it the private upstream answers 401 and nothing is filled", async () => {
    const private_ = await upstream({ authorization: SECRET });
    const m = testWorker({ UPSTREAM_SERVERS: private_.url });
    const got = await outcome(await m.fetch(pkg()));
    expect(got.status).not.toBe(200);
    await m.settle();
    for (const r of await private_.log()) expect(r.headers.authorization).toBeUndefined();
  });

  it("is not sent past a redirect to another origin", async () => {
    const lines = everyLine();
    const private_ = await upstream({ authorization: SECRET, faults: { [pkg()]: "redirect-away" } });
    const m = testWorker({ UPSTREAM_SERVERS: private_.url, UPSTREAM_CREDENTIALS: `${private_.url}=${SECRET}`, AUTH: "external" });
    const got = await outcome(await m.fetch(pkg()));
    expect(got.status).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    const ownHost = new URL(private_.url).host;
    const log = await private_.log();
    const away = log.filter((r) => r.headers.host !== ownHost);
    expect(away.length, "the redirect was followed to the other origin").toBeGreaterThan(0);
    for (const r of away) expect(r.headers.authorization, `${r.method} ${r.path} on ${r.headers.host}`).toBeUndefined();
    for (const r of log.filter((r) => r.headers.host === ownHost)) expect(r.headers.authorization).toBe(SECRET);
    expect(lines()).not.toContain("s3cr3t");
  });

  it("is refused for an upstream that is not configured, naming the variable and not the value", async () => {
    const known = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: known.url, UPSTREAM_CREDENTIALS: `https://elsewhere.example=${SECRET}`, AUTH: "external" });
    const res = await m.fetch("/registries");
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(body).toContain("UPSTREAM_CREDENTIALS");
    expect(body).toContain("https://elsewhere.example");
    expect(body).not.toContain("s3cr3t");
  });

  it("is refused with AUTH=off (pkgedge would serve what it reaches to anyone), naming the variable and what to set", async () => {
    const known = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: known.url, UPSTREAM_CREDENTIALS: `${known.url}=${SECRET}` });
    const res = await m.fetch(`/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`);
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(body).toContain("UPSTREAM_CREDENTIALS");
    expect(body).toContain("set AUTH=protocol or all, or AUTH=external");
    expect(body).not.toContain("s3cr3t");
    expect(await known.log()).toEqual([]);
  });

  it("is refused when an entry is not <base URL>=<value>, without echoing it", async () => {
    const known = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: known.url, UPSTREAM_CREDENTIALS: "pkgedge-test-s3cr3t-value", AUTH: "external" });
    const body = await (await m.fetch("/registries")).text();
    expect(body).toContain("UPSTREAM_CREDENTIALS");
    expect(body).not.toContain("s3cr3t");
  });
});

describe("REGISTRY_CREDENTIALS", () => {
  it("is refused for a registry not in REGISTRIES, naming the variable and not the value", async () => {
    const m = testWorker({ REGISTRY_CREDENTIALS: `00000000-0000-4000-8000-000000000000=${SECRET}`, AUTH: "external" });
    const res = await m.fetch("/registries");
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(body).toContain("REGISTRY_CREDENTIALS");
    expect(body).not.toContain("s3cr3t");
  });
});

describe("credentialFor", () => {
  it("matches an upstream's own paths only, not a longer base that starts the same", () => {
    const map = new Map([["https://storage.example.org/a", SECRET]]);
    expect(credentialFor("https://storage.example.org/a/package/x", map)).toBe(SECRET);
    expect(credentialFor("https://storage.example.org/ab/package/x", map)).toBeUndefined();
    expect(credentialFor("https://storage.example.org.evil.test/a/package/x", map)).toBeUndefined();
  });

  it("gives an upstream nested under a credentialed upstream's base nothing: it is another upstream", () => {
    const map = parseUpstreamCredentials(`https://storage.example.org=${SECRET}`, [
      "https://storage.example.org",
      "https://storage.example.org/public",
    ]);
    const known = ["https://storage.example.org", "https://storage.example.org/public"];
    expect(credentialFor("https://storage.example.org/public/package/x", map, known)).toBeUndefined();
    expect(credentialFor("https://storage.example.org/private/package/x", map, known)).toBe(SECRET);
  });

  it("refuses a credential for a plain-http upstream that is not loopback: it would go out in the clear", () => {
    expect(() => parseUpstreamCredentials(`http://storage.example.org=${SECRET}`, ["http://storage.example.org"])).toThrow(
      /UPSTREAM_CREDENTIALS: http:\/\/storage\.example\.org is not https/,
    );
    expect(parseUpstreamCredentials(`http://127.0.0.1:8080=${SECRET}`, ["http://127.0.0.1:8080"]).size).toBe(1);
  });
});
