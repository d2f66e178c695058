/**
 * A refresh continues its grant: revoking the grant's id, or its user, reaches the tokens refreshed
 * from it, even those minted by an isolate whose copy of the list was not yet stale.
 */

import { describe, expect, it } from "vitest";
import { issueToken, verifyToken } from "../../../worker/auth/token";
import { manifest, testWorker, upstream, type TestWorker } from "../harness";

const KEY = "signing-key-for-tests-0123456789abcdef";
const pkgPath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const vars = async (extra: Record<string, unknown> = {}) => ({
  UPSTREAM_SERVERS: (await upstream()).url,
  AUTH: "protocol",
  AUTH_SIGNING_KEY: KEY,
  ...extra,
});

function tomlField(text: string, name: string): string {
  const m = new RegExp(`^${name} = "([^"]*)"$`, "m").exec(text);
  expect(m, `${name} in ${text}`).not.toBeNull();
  return m![1]!;
}

const revokeWith = async (m: TestWorker, body: unknown) =>
  m.fetch("/auth/revoke", {
    method: "POST",
    headers: { authorization: `Bearer ${(await issueToken(KEY, "operator", "admin", 300)).token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("revocation and refresh", () => {
  it("revoking the grant id that npm run token printed stops a client that has refreshed since", async () => {
    const m = testWorker(await vars({ AUTH_REVOCATION_TTL_SECONDS: "1" }));
    const grant = await issueToken(KEY, "alice", "refresh", 7200);
    const other = await issueToken(KEY, "alice", "refresh", 7200); // alice's other grant (another machine)
    // Pkg refreshes once (its access token was about to expire) and writes the answer back.
    const first = await m.fetch("/auth/refresh", bearer(grant.token));
    expect(first.status).toBe(200);
    const refreshed = tomlField(await first.text(), "refresh_token");
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
    const newRefresh = tomlField(text, "refresh_token");
    const newAccess = tomlField(text, "access_token");
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
