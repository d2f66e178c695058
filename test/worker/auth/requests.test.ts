/**
 * Odd methods, queries and Authorization headers on protected paths, without a
 * valid token: never served, never a 5xx, nothing asked of the upstream.
 */

import { describe, expect, it } from "vitest";
import { issueToken } from "../../../worker/auth/token";
import { bucketKeys, manifest, testWorker, upstream } from "../harness";

const KEY = "signing-key-for-tests-0123456789abcdef";
const pkgPath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;

describe("unauthenticated requests in every shape", () => {
  for (const mode of ["protocol", "all"]) {
    it(`AUTH=${mode}: methods, query tokens, header spellings`, async () => {
      const up = await upstream();
      const m = testWorker({ UPSTREAM_SERVERS: up.url, AUTH: mode, AUTH_SIGNING_KEY: KEY });
      const good = (await issueToken(KEY, "alice", "access", 3600)).token;
      const refresh = (await issueToken(KEY, "alice", "refresh", 3600)).token;
      const cases: [string, string, RequestInit][] = [];
      for (const method of ["OPTIONS", "PUT", "DELETE", "POST", "PATCH"]) cases.push([method, pkgPath(), { method }]);
      cases.push(["query token", `${pkgPath()}?access_token=${good}`, {}]);
      cases.push(["query token /registries", `/registries?token=${good}`, {}]);
      cases.push(["basic", pkgPath(), { headers: { authorization: `Basic ${btoa(`alice:${good}`)}` } }]);
      cases.push([
        "two headers",
        pkgPath(),
        {
          headers: [
            ["authorization", `Bearer ${good}`],
            ["authorization", "Bearer x"],
          ],
        },
      ]);
      cases.push(["long header", pkgPath(), { headers: { authorization: `Bearer ${"a".repeat(60_000)}` } }]);
      cases.push(["long token", pkgPath(), { headers: { authorization: `Bearer pkgedge1.${"a".repeat(5000)}.${"b".repeat(43)}` } }]);
      cases.push(["dots", pkgPath(), { headers: { authorization: `Bearer ${good}.` } }]);
      cases.push(["padding", pkgPath(), { headers: { authorization: `Bearer ${good}=` } }]);
      cases.push(["refresh as access", pkgPath(), { headers: { authorization: `Bearer ${refresh}` } }]);
      cases.push(["token then junk", pkgPath(), { headers: { authorization: `Bearer ${good} x` } }]);
      cases.push(["mirror", "/mirror/julialang2/bin/versions.json?x=1", { method: "HEAD" }]);
      for (const [what, path, init] of cases) {
        const res = await m.fetch(path, { redirect: "manual", ...init });
        await res.body?.cancel();
        expect(res.status, `${what}: ${init.method ?? "GET"} ${path.slice(0, 80)}`).toBe(401);
        expect(res.headers.get("cache-control"), what).toBe("no-store");
      }
      // The endpoints: odd spellings are not the endpoints, and never a 5xx.
      for (const [path, method] of [
        ["/auth/refresh/", "GET"],
        ["/auth/refresh?x=1", "HEAD"],
        ["/auth/revoke/", "POST"],
        ["/auth/revoke", "GET"],
        ["/auth/revoke", "OPTIONS"],
        ["/auth/", "GET"],
      ] as const) {
        const res = await m.fetch(path, { method, redirect: "manual" });
        await res.body?.cancel();
        expect(res.status, `${method} ${path}`).toBeLessThan(500);
        expect(res.status, `${method} ${path}`).not.toBe(200);
      }
      await m.settle();
      expect(await up.log()).toEqual([]);
      expect(await bucketKeys()).toEqual([]);
    });
  }

  it("lowercase bearer with a valid token is served privately", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, AUTH: "protocol", AUTH_SIGNING_KEY: KEY });
    const good = (await issueToken(KEY, "alice", "access", 3600)).token;
    const res = await m.fetch(pkgPath(), { headers: { authorization: `bearer ${good}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/^private/);
    await res.arrayBuffer();
    await m.settle();
  });

  it("the client's token never reaches the upstream (fill, HEAD, registries)", async () => {
    const up = await upstream({ lists: { conservative: `${manifest.snapshots[0]}\n`, eager: `${manifest.snapshots[0]}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, AUTH: "protocol", AUTH_SIGNING_KEY: KEY });
    const good = (await issueToken(KEY, "alice", "access", 3600)).token;
    for (const [path, method] of [
      [pkgPath(), "HEAD"],
      [pkgPath(), "GET"],
      ["/registries.eager", "GET"],
    ] as const) {
      const res = await m.fetch(path, { method, headers: { authorization: `Bearer ${good}` } });
      await res.arrayBuffer();
      expect(res.status, `${method} ${path}`).toBeLessThan(400);
    }
    await m.settle();
    const log = await up.log();
    expect(log.length).toBeGreaterThan(0);
    for (const r of log) expect(r.headers.authorization, `${r.method} ${r.path}`).toBeUndefined();
  });

  it("AUTH on without a usable key: every request answers 500 naming AUTH_SIGNING_KEY, never the key", async () => {
    for (const extra of [{}, { AUTH_SIGNING_KEY: "short-secret-value" }, { AUTH_SIGNING_KEY: "" }]) {
      const m = testWorker({ AUTH: "protocol", ...extra });
      for (const path of ["/robots.txt", pkgPath(), "/auth/refresh"]) {
        const res = await m.fetch(path);
        const body = await res.text();
        expect(res.status, `${JSON.stringify(extra)} ${path}`).toBe(500);
        expect(body).toContain("AUTH_SIGNING_KEY");
        expect(body).not.toContain("short-secret-value");
      }
    }
  });
});
