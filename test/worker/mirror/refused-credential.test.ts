/**
 * A private binary mirror (BINARY_MIRRORS base with UPSTREAM_CREDENTIALS) whose credential the
 * bucket refuses (expired, rotated): an upstream failure told to the operator, never a 401 a client
 * would read as its own, and never remembered as "the bucket has no such file".
 */

import { describe, expect, it } from "vitest";
import { issueToken } from "../../../worker/auth/token";
import { testWorker, upstream } from "../harness";

const KEY = "signing-key-for-tests-0123456789abcdef";

describe("a refused mirror credential", () => {
  it("is an upstream failure (502, on /meta), not a 401 passed to a client whose own token is valid", async () => {
    const bucket = await upstream({ authorization: "Bearer current-credential" });
    const m = testWorker({
      UPSTREAM_SERVERS: (await upstream()).url,
      BINARY_MIRRORS: `priv=${bucket.url}`,
      UPSTREAM_CREDENTIALS: `${bucket.url}=Bearer expired-credential`,
      AUTH: "protocol",
      AUTH_SIGNING_KEY: KEY,
    });
    const auth = { authorization: `Bearer ${(await issueToken(KEY, "alice", "access", 3600)).token}` };
    const statuses: Record<string, number> = {};
    for (const method of ["HEAD", "GET"]) {
      const res = await m.fetch("/mirror/priv/bin/linux/x64/1.10/julia-1.10.0-linux-x86_64.tar.gz", { method, headers: auth });
      await res.body?.cancel();
      statuses[method] = res.status;
    }
    await m.settle();
    const asked = await bucket.log();
    expect(asked.length, "the private bucket was asked").toBeGreaterThan(0);
    const meta = (await (await m.fetch("/meta")).json()) as { upstream_failures: { key?: string; detail: string }[] };
    const page = await (await m.fetch("/")).text();
    await m.settle();
    expect(
      { ...statuses, on_meta: meta.upstream_failures.some((f) => f.detail.includes(bucket.url)) },
      "what the client and the operator see when the mirror's credential is refused",
    ).toEqual({ HEAD: 502, GET: 502, on_meta: true });
    // AUTH=protocol leaves /meta and the status page public: they say a failure, not which file token holders asked for.
    for (const f of meta.upstream_failures) expect(f.key).toBeUndefined();
    expect(/<li data-mirror="priv">(.*?)<\/li>/.exec(page)?.[1]).toMatch(/failed \d+ s ago: /);
    expect(page).not.toContain("julia-1.10.0-linux-x86_64");
  });

  it("a GET of versions.json with the refused credential is not a 401 remembered as an absence", async () => {
    const bucket = await upstream({ authorization: "Bearer current-credential" });
    const m = testWorker({
      UPSTREAM_SERVERS: (await upstream()).url,
      BINARY_MIRRORS: `priv=${bucket.url}`,
      UPSTREAM_CREDENTIALS: `${bucket.url}=Bearer expired-credential`,
      AUTH: "external",
      // An outage is remembered this long (an absence would be NEGATIVE_TTL_SECONDS, a minute by default).
      UPSTREAM_FAILURE_TTL_SECONDS: "0",
    });
    const first = await m.fetch("/mirror/priv/bin/versions.json");
    await first.body?.cancel();
    await m.settle();
    const asked = (await bucket.log()).length;
    const second = await m.fetch("/mirror/priv/bin/versions.json");
    await second.body?.cancel();
    await m.settle();
    const askedAgain = (await bucket.log()).length > asked;
    expect({ first: first.status, second: second.status, askedAgain }, "versions.json through a refused credential").toEqual({
      first: 502,
      second: 502,
      askedAgain: true,
    });
    expect(asked).toBeGreaterThan(0);
  });
});
