/**
 * `/auth/refresh` (Pkg's refresh contract) and `/auth/revoke` (the operator tool's), and how fast
 * a revocation reaches an isolate that had read the list before it (AUTH_REVOCATION_TTL_SECONDS=1),
 * refreshed tokens included.
 */

import { describe, expect, it } from "vitest";
import { REVOCATION_KEY } from "../../../worker/auth/revocation";
import { issueToken, verifyToken } from "../../../worker/auth/token";
import { privately } from "../../../worker/middleware/auth";
import { bucketKeys, manifest, putObject, storedText, testWorker, upstream } from "../harness";

const KEY = "signing-key-for-tests-0123456789abcdef";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pkgPath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const vars = async (extra: Record<string, unknown> = {}) => ({
  UPSTREAM_SERVERS: (await upstream()).url,
  AUTH: "protocol",
  AUTH_SIGNING_KEY: KEY,
  AUTH_REVOCATION_TTL_SECONDS: "1",
  ...extra,
});

/** The TOML /auth/refresh answers: flat keys, strings and integers. */
function toml(text: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const line of text.trim().split("\n")) {
    const m = /^([a-z_]+) = (?:"([^"]*)"|(\d+))$/.exec(line);
    expect(m, line).not.toBeNull();
    out[m![1]!] = m![2] ?? Number(m![3]);
  }
  return out;
}

const revokeWith = async (m: ReturnType<typeof testWorker>, body: unknown, typ: "admin" | "access" = "admin") =>
  m.fetch("/auth/revoke", {
    method: "POST",
    headers: { authorization: `Bearer ${(await issueToken(KEY, "operator", typ, 300)).token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("/auth/refresh", () => {
  it("answers Pkg's TOML for a refresh token: a new access token, its expiry, and a new refresh token for the same grant", async () => {
    const m = testWorker(await vars({ AUTH_ACCESS_TTL_SECONDS: "900" }));
    const grant = await issueToken(KEY, "alice", "refresh", 7200);
    const res = await m.fetch("/auth/refresh", bearer(grant.token));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/toml");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const answer = toml(await res.text());
    expect(Object.keys(answer).sort()).toEqual(["access_token", "expires_at", "expires_in", "refresh_token", "refresh_url"]);
    expect(answer.expires_in).toBe(900);
    expect(answer.refresh_url).toBe("http://pkgedge.test/auth/refresh");
    const now = Math.floor(Date.now() / 1000);
    expect(Math.abs((answer.expires_at as number) - (now + 900))).toBeLessThanOrEqual(2);
    const refreshed = await verifyToken(KEY, answer.refresh_token as string, "refresh");
    expect(refreshed.ok && refreshed.payload.exp).toBe(grant.payload.exp);
    const served = await m.fetch(pkgPath(), bearer(answer.access_token as string));
    expect(served.status).toBe(200);
    await served.arrayBuffer();
    await m.settle();
  });

  it("under PATH_PREFIX: the refresh URL and the 401 name the mounted address", async () => {
    const m = testWorker(await vars({ PATH_PREFIX: "/julia" }));
    const answer = toml(
      await (await m.fetch("/julia/auth/refresh", bearer((await issueToken(KEY, "alice", "refresh", 3600)).token))).text(),
    );
    expect(answer.refresh_url).toBe("http://pkgedge.test/julia/auth/refresh");
    const refused = await m.fetch(`/julia${pkgPath()}`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain("JULIA_PKG_SERVER=http://pkgedge.test/julia");
    expect((await m.fetch(pkgPath())).status).toBe(404);
  });

  it("never hands out an access token that outlives its grant", async () => {
    const m = testWorker(await vars());
    const answer = toml(await (await m.fetch("/auth/refresh", bearer((await issueToken(KEY, "alice", "refresh", 300)).token))).text());
    expect(answer.expires_in).toBeLessThanOrEqual(300);
  });

  it("refuses an access token, an expired refresh token, and no token, with the 401", async () => {
    const m = testWorker(await vars());
    const old = Math.floor(Date.now() / 1000) - 1000;
    for (const [token, why] of [
      [(await issueToken(KEY, "alice", "access", 3600)).token, "not an access token"],
      [(await issueToken(KEY, "alice", "refresh", 60, old)).token, "expired"],
    ] as const) {
      const res = await m.fetch("/auth/refresh", bearer(token));
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="pkgedge"');
      expect(await res.text()).toContain(why === "expired" ? "the token has expired" : "refresh token");
    }
    expect((await m.fetch("/auth/refresh")).status).toBe(401);
    expect((await m.fetch("/auth/refresh", { method: "POST" })).status).toBe(405);
  });
});

describe("/auth/revoke", () => {
  it("needs an admin token and a body naming a user or a token id", async () => {
    const m = testWorker(await vars());
    expect((await revokeWith(m, { user: "alice" }, "access")).status).toBe(401);
    expect((await m.fetch("/auth/revoke", { method: "POST", body: "{}" })).status).toBe(401);
    expect((await revokeWith(m, { user: "../x" })).status).toBe(400);
    expect((await revokeWith(m, { user: "a", jti: "abcdefgh" })).status).toBe(400);
    expect((await m.fetch("/auth/revoke")).status).toBe(405);
    // A body past 4 KiB is refused without being read whole (a stream that would never end).
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const admin = (await issueToken(KEY, "operator", "admin", 300)).token;
    const long = await m.fetch("/auth/revoke", { method: "POST", headers: { authorization: `Bearer ${admin}` }, body: endless });
    expect(long.status).toBe(400);
    expect(pulled).toBeLessThan(64);
    expect(await bucketKeys()).toEqual([]);
  });

  it("a revoked user's tokens (access and refresh) are refused within the TTL by an isolate that read the list before", async () => {
    const reader = testWorker(await vars());
    const operator = testWorker(await vars());
    const token = (await issueToken(KEY, "alice", "access", 3600)).token;
    const refresh = (await issueToken(KEY, "alice", "refresh", 3600)).token;
    const bob = (await issueToken(KEY, "bob", "access", 3600)).token;
    const first = await reader.fetch(pkgPath(), bearer(token));
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const res = await revokeWith(operator, { user: "alice" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revoked: { user: "alice" }, takes_effect_within_seconds: 1 });
    expect(JSON.parse((await storedText(REVOCATION_KEY))!).users.alice).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1100));
    const refused = await reader.fetch(pkgPath(), bearer(token));
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain("the token was revoked");
    expect((await reader.fetch("/auth/refresh", bearer(refresh))).status).toBe(401);
    const other = await reader.fetch(pkgPath(), bearer(bob));
    expect(other.status).toBe(200);
    await other.arrayBuffer();
    await reader.settle();
  });

  it("a revoked token id is refused; the user's other tokens still work, and revocations add up", async () => {
    const m = testWorker(await vars());
    const a = await issueToken(KEY, "alice", "access", 3600);
    const b = await issueToken(KEY, "alice", "access", 3600);
    expect((await revokeWith(m, { jti: a.payload.jti })).status).toBe(200);
    expect((await revokeWith(m, { user: "mallory" })).status).toBe(200);
    expect((await m.fetch(pkgPath(), bearer(a.token))).status).toBe(401);
    const ok = await m.fetch(pkgPath(), bearer(b.token));
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const list = JSON.parse((await storedText(REVOCATION_KEY))!);
    expect(Object.keys(list.tokens)).toEqual([a.payload.jti]);
    expect(Object.keys(list.users)).toEqual(["mallory"]);
    await m.settle();
  });
});

describe("the revocation list", () => {
  it("when it cannot be read and no copy was read before, a valid token is not let through unchecked", async () => {
    await putObject(REVOCATION_KEY, new TextEncoder().encode("not json"), "application/json");
    const up = await upstream();
    const m = testWorker({ ...(await vars()), UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(pkgPath(), bearer((await issueToken(KEY, "alice", "access", 3600)).token));
    expect(res.status).toBe(500);
    await m.settle();
    expect(await up.log()).toEqual([]);
  });
});

describe("privately", () => {
  it("turns public into private and keeps the other directives", () => {
    expect(privately("public, max-age=30")).toBe("private, max-age=30");
    expect(privately("no-store")).toBe("private, no-store");
    expect(privately(null)).toBe("private");
    expect(privately("private, max-age=5")).toBe("private, max-age=5");
  });
});

// A refresh continues its grant: revoking the grant's id, or its user, reaches the tokens refreshed
// from it, even those minted by an isolate whose copy of the list was not yet stale.
describe("revocation and refresh", () => {
  it("revoking the grant id that npm run token printed stops a client that has refreshed since", async () => {
    const m = testWorker(await vars({ AUTH_REVOCATION_TTL_SECONDS: "1" }));
    const grant = await issueToken(KEY, "alice", "refresh", 7200);
    const other = await issueToken(KEY, "alice", "refresh", 7200); // alice's other grant (another machine)
    // Pkg refreshes once (its access token was about to expire) and writes the answer back.
    const first = await m.fetch("/auth/refresh", bearer(grant.token));
    expect(first.status).toBe(200);
    const refreshed = toml(await first.text()).refresh_token as string;
    // The operator revokes the grant id the tool printed.
    expect((await revokeWith(m, { jti: grant.payload.gid })).status).toBe(200);
    expect((await m.fetch("/auth/refresh", bearer(grant.token))).status).toBe(401);
    // Pkg refreshes again with the refresh token it now holds: still a grant.
    const again = await m.fetch("/auth/refresh", bearer(refreshed));
    await again.text();
    expect(again.status, "a refresh of the revoked grant after one refresh").toBe(401);
    const untouched = await m.fetch("/auth/refresh", bearer(other.token));
    await untouched.text();
    expect(untouched.status, "alice's other grant").toBe(200);
    await m.settle();
  });

  it("a user revoked on one isolate cannot escape by refreshing on an isolate whose list copy is not yet stale", async () => {
    const reader = testWorker(await vars({ AUTH_REVOCATION_TTL_SECONDS: "3" }));
    const operator = testWorker(await vars({ AUTH_REVOCATION_TTL_SECONDS: "3" }));
    const grant = await issueToken(KEY, "alice", "refresh", 7200, Math.floor(Date.now() / 1000) - 10);
    const access = await issueToken(KEY, "alice", "access", 3600, Math.floor(Date.now() / 1000) - 10);
    // The reader isolate reads the (empty) list.
    const served = await reader.fetch(pkgPath(), bearer(access.token));
    expect(served.status).toBe(200);
    await served.arrayBuffer();
    // Another isolate revokes alice.
    expect((await revokeWith(operator, { user: "alice" })).status).toBe(200);
    // Within the reader's TTL, in a later second than the cut-off, alice refreshes at the reader.
    await sleep(1050 - (Date.now() % 1000));
    const windowRefresh = await reader.fetch("/auth/refresh", bearer(grant.token));
    expect(windowRefresh.status).toBe(200);
    const text = await windowRefresh.text();
    const newRefresh = toml(text).refresh_token as string;
    const newAccess = toml(text).access_token as string;
    const checked = await verifyToken(KEY, newRefresh, "refresh");
    expect(checked.ok).toBe(true);
    // Past the TTL every isolate has the list: the old grant is refused...
    await sleep(3100);
    expect((await reader.fetch("/auth/refresh", bearer(grant.token))).status).toBe(401);
    // ...but what it minted during the window must be refused too.
    const after = await reader.fetch(pkgPath(), bearer(newAccess));
    await after.arrayBuffer();
    const afterRefresh = await reader.fetch("/auth/refresh", bearer(newRefresh));
    await afterRefresh.text();
    expect({ access: after.status, refresh: afterRefresh.status }, "tokens minted by a revoked grant, past the TTL").toEqual({
      access: 401,
      refresh: 401,
    });
    await reader.settle();
  });
});
