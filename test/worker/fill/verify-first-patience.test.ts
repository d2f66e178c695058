/**
 * Verify-first under attack: a crowd, a range and a client that leaves, joining while the fill is
 * being verified and after the first upstream's bytes failed; an upstream that dribbles or never
 * answers, which the patience must still bound.
 */

import { describe, expect, it } from "vitest";
import { auditBucket, manifest, outcome, sha256, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const LATER = { headDelayMs: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("joining a fill requesters wait on", () => {
  it("a crowd arriving while the good upstream's slow fill verifies: every whole GET a verified 200, one MISS", async () => {
    const bad = await upstream({ faults: { [pkg()]: "corrupt-gzip" } });
    const good = await upstream({ faults: { [pkg()]: "slow" }, ...LATER }); // the body over about 2 s
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, UPSTREAM_TIMEOUT_MS: "2000" });
    const whole: Promise<Response>[] = [];
    const ranges: Promise<Response>[] = [];
    const leaving = new AbortController();
    whole.push(m.fetch(pkg()));
    for (let i = 0; i < 10; i++) {
      await sleep(150);
      whole.push(m.fetch(pkg()));
      if (i === 3) ranges.push(m.fetch(pkg(), { headers: { range: "bytes=10-99" } }));
      if (i === 5) void m.fetch(pkg(), { signal: leaving.signal }).catch(() => {});
      if (i === 6) leaving.abort();
    }
    const responses = await Promise.all(whole);
    const caches = responses.map((r) => r.headers.get("x-cache"));
    for (const [i, res] of responses.entries()) {
      const got = await outcome(res);
      expect(got.status, `requester ${i}`).toBe(200);
      expect(got.clean, `requester ${i}`).toBe(true);
      if (got.clean) expect(await sha256(got.bytes), `requester ${i}`).toBe(manifest.objects[pkg()]!.sha256);
    }
    expect(
      caches.filter((c) => c === "MISS"),
      `X-Cache values ${JSON.stringify(caches)}`,
    ).toHaveLength(1);
    const range = await outcome(await ranges[0]!);
    // A range streams from whatever fill runs: the bad one (then it breaks) or the good one (then it is right).
    if (range.clean) {
      expect(range.status).toBe(206);
      const all = await (await m.fetch(pkg())).arrayBuffer();
      expect([...range.bytes]).toEqual([...new Uint8Array(all).subarray(10, 100)]);
    }
    await m.settle();
    expect(await auditBucket()).toEqual([pkg().slice(1)]);
  }, 30_000);
});

describe("a dribbling upstream, while requesters wait", () => {
  it("is passed over within VERIFY_FIRST_PATIENCE_MS, as configuration.md says, so the first GET is a verified 200", async () => {
    const dribbling = await upstream({ faults: { [pkg()]: "dribble" } }); // 20 bytes a second
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${dribbling.url},${good.url}`, VERIFY_FIRST_PATIENCE_MS: "3000" });
    const asked = Date.now();
    const res = await m.fetch(pkg());
    const waited = Date.now() - asked;
    const goodGets = (await good.log()).filter((r) => r.method === "GET").length;
    await res.body?.cancel();
    expect(
      { goodGetsBeforeTheStatusLine: goodGets, xCacheMiss: res.headers.get("x-cache-miss") },
      `status line after ${waited} ms`,
    ).toEqual({ goodGetsBeforeTheStatusLine: 1, xCacheMiss: "miss" });
    expect(waited).toBeLessThan(3000);
  }, 30_000);
});

describe("an upstream whose GET never answers", () => {
  // The patience does not shorten the wait for an answer: when every upstream is slow to answer,
  // that would only turn a late 200 into a 502 (pass-over-review.test.ts). The hanging upstream is
  // given up after UPSTREAM_TIMEOUT_MS, and the next one's verified 200 follows at once.
  it("is given up after UPSTREAM_TIMEOUT_MS, and the next upstream's verified 200 follows", async () => {
    const hanging = await upstream({ faults: { [pkg()]: "get-hang" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${hanging.url},${good.url}`, VERIFY_FIRST_PATIENCE_MS: "1000", UPSTREAM_TIMEOUT_MS: "1000" });
    const asked = Date.now();
    const res = await m.fetch(pkg());
    const waited = Date.now() - asked;
    const got = await outcome(res);
    expect(res.status).toBe(200);
    expect(got.clean).toBe(true);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    expect(waited, `status ${res.status} after ${waited} ms`).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(3000);
    await m.settle();
  }, 30_000);
});
