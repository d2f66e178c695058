/**
 * Client authentication end to end inside workerd, on the real worker, bucket and fixture upstream:
 * which routes each AUTH mode protects, the 401 a person can act on, private answers for tokens,
 * and every kind of token that must not work; a refused request reaches neither upstream nor bucket.
 */

import { describe, expect, it, vi } from "vitest";
import { issueToken } from "../../../worker/auth/token";
import { bucketKeys, manifest, testWorker, upstream, type TestWorker } from "../harness";

const KEY = "signing-key-for-tests-0123456789abcdef";
const OTHER_KEY = "another-deployment-signing-key-0123456789";
const pkgPath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
const artifactPath = () => `/artifact/${manifest.objects[manifest.artifact]!.treeHash}`;
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const access = async (user = "alice", key = KEY) => (await issueToken(key, user, "access", 3600)).token;

async function authWorker(
  mode: string,
  vars: Record<string, unknown> = {},
): Promise<{ m: TestWorker; up: Awaited<ReturnType<typeof upstream>> }> {
  const up = await upstream();
  return { m: testWorker({ UPSTREAM_SERVERS: up.url, AUTH: mode, AUTH_SIGNING_KEY: KEY, ...vars }), up };
}

describe("AUTH=off", () => {
  it("serves as before: no token needed, answers stay public, /auth/ is not there", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkgPath());
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/^public/);
    await res.arrayBuffer();
    expect((await m.fetch("/auth/refresh", bearer(await access()))).status).toBe(404);
    await m.settle();
  });
});

describe("which routes need a token", () => {
  const protocolPaths = () => [
    "/registries",
    "/registries.eager",
    "/registries.conservative",
    pkgPath(),
    artifactPath(),
    "/mirror/julialang2/versions.json",
  ];

  it("AUTH=protocol: the protocol routes and /mirror/; /, /meta* and /robots.txt stay public", async () => {
    const { m, up } = await authWorker("protocol");
    for (const path of protocolPaths()) {
      for (const method of ["GET", "HEAD"]) {
        const res = await m.fetch(path, { method, redirect: "manual" });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe('Bearer realm="pkgedge"');
      }
    }
    for (const path of ["/", "/meta", "/meta/parents", "/robots.txt"]) {
      const res = await m.fetch(path);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
    }
    await m.settle();
    expect(await up.log()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  });

  it("AUTH=all: / and /meta too; /robots.txt and /metrics (its own token) stay public", async () => {
    const { m, up } = await authWorker("all");
    for (const path of [...protocolPaths(), "/", "/meta", "/meta/stats", "/nothing-here"]) {
      expect((await m.fetch(path, { redirect: "manual" })).status, path).toBe(401);
    }
    expect((await m.fetch("/robots.txt")).status).toBe(200);
    expect((await m.fetch("/metrics")).status).toBe(404);
    const meta = await m.fetch("/meta", bearer(await access()));
    expect(meta.status).toBe(200);
    expect(meta.headers.get("cache-control")).toMatch(/private/);
    await meta.arrayBuffer();
    await m.settle();
    expect(await up.log()).toEqual([]);
  });
});

describe("the 401", () => {
  it("says why, where to get a token (AUTH_HELP) and which file holds it, with this server's host", async () => {
    const { m } = await authWorker("protocol", { AUTH_HELP: "https://wiki.example.org/julia-token" });
    const res = await m.fetch(pkgPath());
    expect(res.status).toBe(401);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain("no token was sent");
    expect(text).toContain("https://wiki.example.org/julia-token");
    expect(text).toContain("~/.julia/servers/pkgedge.test/auth.toml");
    const generic = await (await (await authWorker("protocol")).m.fetch(pkgPath())).text();
    expect(generic).toContain("ask the operator of this server");
  });

  it("logs who or why, never the token", async () => {
    const info = vi.spyOn(console, "log");
    const { m } = await authWorker("protocol");
    const token = await access("carol");
    await (await m.fetch(pkgPath(), { headers: { authorization: `Bearer ${token}`, "x-request-id": "auth-ok-1" } })).arrayBuffer();
    await (await m.fetch(pkgPath(), { headers: { "x-request-id": "auth-missing-1" } })).arrayBuffer();
    await m.settle();
    const lines = info.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"event":"request"'));
    const ok = JSON.parse(lines.find((l) => l.includes("auth-ok-1"))!);
    const missing = JSON.parse(lines.find((l) => l.includes("auth-missing-1"))!);
    expect(ok).toMatchObject({ auth_user: "carol", status: 200 });
    expect(missing).toMatchObject({ auth: "missing", status: 401 });
    expect(lines.join("\n")).not.toContain(token.split(".")[2]);
  });
});

describe("tokens", () => {
  it("a valid access token is served, and every answer is private (max-age and the rest kept)", async () => {
    const { m } = await authWorker("protocol");
    const auth = bearer(await access());
    const res = await m.fetch(pkgPath(), auth);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("private, max-age=31536000, immutable, no-transform");
    await res.arrayBuffer();
    const hit = await m.fetch(pkgPath(), auth);
    expect(hit.headers.get("x-cache")).toBe("HIT");
    expect(hit.headers.get("cache-control")).toMatch(/^private, max-age=/);
    await hit.arrayBuffer();
    const redirect = await m.fetch("/registries", { ...auth, redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("cache-control")).toBe("private, no-store");
    // The stored copy serves the next user; a request without a token still gets nothing of it.
    const anonymous = await m.fetch(pkgPath());
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("x-cache")).toBeNull();
    await m.settle();
  });

  it.each([
    [
      "expired",
      async () => (await issueToken(KEY, "alice", "access", 60, Math.floor(Date.now() / 1000) - 120)).token,
      "the token has expired",
    ],
    ["a refresh token", async () => (await issueToken(KEY, "alice", "refresh", 3600)).token, "not an access token"],
    ["an admin token", async () => (await issueToken(KEY, "root", "admin", 3600)).token, "not an access token"],
    ["another deployment's", () => access("alice", OTHER_KEY), "not valid here"],
    ["not a token", async () => "abc.def", "not a token of this server"],
  ])("%s is refused, and nothing reaches upstream or the bucket", async (_, token, why) => {
    const { m, up } = await authWorker("protocol");
    const res = await m.fetch(pkgPath(), bearer(await token()));
    expect(res.status).toBe(401);
    expect(await res.text()).toContain(why);
    await m.settle();
    expect(await up.log()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  });
});
