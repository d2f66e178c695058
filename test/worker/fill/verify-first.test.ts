/**
 * Verify before the first byte: a cold whole GET of a package is answered only once a fill verified
 * and stored it, trying the next upstream when one's bytes fail, so the first request gets a
 * verified 200 or an error status, never a broken or wrong body; past VERIFY_FIRST_PATIENCE_MS
 * the requester streams with the last bytes held back.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
import { auditBucket, bucketKeys, manifest, outcome, sha256, testWorker, upstream, type Fault } from "../harness";
import { parseConfig } from "../../../worker/config";
import { waitedFillConfig } from "../../../worker/fill/verify-first";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const FAST = { UPSTREAM_IDLE_TIMEOUT_MS: "300", UPSTREAM_TIMEOUT_MS: "2000" };
/** The good upstream answers its HEAD later, so the faulty one is tried first. */
const LATER = { headDelayMs: 200 };

const gets = async (up: { log(): Promise<{ method: string; path: string }[]> }, path: string) =>
  (await up.log()).filter((r) => r.method === "GET" && r.path === path).length;

describe.each<Fault>(["wrong-bytes", "corrupt-gzip", "truncate", "reset", "stall"])(
  "the fastest upstream's GET goes bad (%s) while another has good bytes",
  (fault) => {
    it("answers the first GET with a verified 200 from the good upstream", async () => {
      const bad = await upstream({ faults: { [pkg()]: fault } });
      const good = await upstream(LATER);
      const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
      const res = await m.fetch(pkg());
      expect(res.headers.get("x-cache-miss"), "a miss, answered from the verified copy").toBe("miss");
      expect(res.headers.get("x-cache"), "this request started both fills: a MISS, not JOINED").toBe("MISS");
      expect(res.headers.get("content-length")).toBe(String(manifest.objects[pkg()]!.size));
      const first = await outcome(res);
      expect(first.status).toBe(200);
      expect(first.clean, "the first GET ends cleanly").toBe(true);
      if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[pkg()]!.sha256);
      expect(await gets(bad, pkg()), "the faulty upstream was tried first").toBe(1);
      await m.settle();
      expect(await auditBucket()).toEqual([pkg().slice(1)]);
    });
  },
);

describe("a fill requesters wait on", () => {
  it("gives up on a silent upstream after a third of the patience, when that is shorter than UPSTREAM_IDLE_TIMEOUT_MS", () => {
    expect(waitedFillConfig(parseConfig({})).upstreamIdleTimeoutMs).toBe(3333);
    expect(waitedFillConfig(parseConfig({ UPSTREAM_IDLE_TIMEOUT_MS: "2000" })).upstreamIdleTimeoutMs).toBe(2000);
    expect(waitedFillConfig(parseConfig({ VERIFY_FIRST_PATIENCE_MS: "150" })).upstreamIdleTimeoutMs).toBe(100);
    expect(waitedFillConfig(parseConfig({ VERIFY_FIRST_MAX_BYTES: "0" })).upstreamIdleTimeoutMs).toBe(10_000);
    expect(waitedFillConfig(parseConfig({ VERIFY_FIRST_PATIENCE_MS: "0" })).upstreamIdleTimeoutMs).toBe(10_000);
    // The throughput floor's window is scaled the same way (a dribbling upstream).
    // The wait for an answer is not shortened: with every upstream slow to answer it would only turn a 200 into a 502.
    expect(waitedFillConfig(parseConfig({})).upstreamTimeoutMs).toBe(5000);
    expect(waitedFillConfig(parseConfig({})).upstreamMinRateWindowMs).toBe(3333);
    expect(waitedFillConfig(parseConfig({ VERIFY_FIRST_PATIENCE_MS: "1500" })).upstreamMinRateWindowMs).toBe(1000);
    expect(waitedFillConfig(parseConfig({ VERIFY_FIRST_MAX_BYTES: "0" })).upstreamMinRateWindowMs).toBe(20_000);
  });

  it("moves on from a stalled upstream within the patience, under the default idle timeout", async () => {
    const stalling = await upstream({ faults: { [pkg()]: "stall" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${stalling.url},${good.url}`, VERIFY_FIRST_PATIENCE_MS: "3000" });
    const first = await outcome(await m.fetch(pkg()));
    expect(first.status).toBe(200);
    expect(first.clean, "the first GET ends cleanly").toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    expect(await auditBucket()).toEqual([pkg().slice(1)]);
  });
});

describe("verify before the first byte", () => {
  it("answers the first GET of a registry tarball whose fastest upstream is corrupt with a verified 200", async () => {
    const registry = manifest.snapshots[0]!;
    const bad = await upstream({ faults: { [registry]: "corrupt-gzip" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
    const first = await outcome(await m.fetch(registry));
    expect(first.status).toBe(200);
    expect(first.clean, "the first GET ends cleanly").toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[registry]!.sha256);
    expect(await gets(bad, registry)).toBe(1);
    await m.settle();
    expect(await auditBucket()).toEqual([registry.slice(1)]);
  });

  it("answers a crowd from one verified fill per upstream", async () => {
    const bad = await upstream({ faults: { [pkg()]: "corrupt-gzip" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
    const results = await Promise.all(Array.from({ length: 8 }, () => m.fetch(pkg()).then(outcome)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.clean).toBe(true);
      if (r.clean) expect(await sha256(r.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    }
    expect([await gets(bad, pkg()), await gets(good, pkg())], "one GET per upstream for the whole crowd").toEqual([1, 1]);
    await m.settle();
  });

  it("answers an error status, never a 200, when every upstream's bytes are bad, and stores nothing", async () => {
    const one = await upstream({ faults: { [pkg()]: "wrong-bytes" } });
    const two = await upstream({ faults: { [pkg()]: "corrupt-gzip" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${one.url},${two.url}`, ...FAST });
    const res = await m.fetch(pkg());
    expect(res.status).toBe(502);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await outcome(res)).clean).toBe(true);
    expect([await gets(one, pkg()), await gets(two, pkg())], "each upstream was tried once").toEqual([1, 1]);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("waits no longer than VERIFY_FIRST_PATIENCE_MS, then streams the running fill with its end held back", async () => {
    // "slow": the body over about two seconds; the patience runs out before it is done.
    const slow = await upstream({ faults: { [pkg()]: "slow" } });
    // No throughput floor: a body that slow would be given up as a dribble after a third of the patience.
    const m = testWorker({ UPSTREAM_SERVERS: slow.url, VERIFY_FIRST_PATIENCE_MS: "800", UPSTREAM_MIN_BYTES_PER_SECOND: "0" });
    const asked = Date.now();
    const res = await m.fetch(pkg());
    const waited = Date.now() - asked;
    expect(res.status).toBe(200);
    expect(waited, "the status line waited for the patience").toBeGreaterThanOrEqual(700);
    expect(waited, "and no longer").toBeLessThan(1900);
    const got = await outcome(res);
    expect(got.clean).toBe(true);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    expect(await gets(slow, pkg()), "the stream joined the running fill").toBe(1);
    await m.settle();
  });

  it("past the patience, a fill that then fails ends in a broken transfer, never a clean wrong body", async () => {
    const stalling = await upstream({ faults: { [pkg()]: "stall" } });
    const m = testWorker({ UPSTREAM_SERVERS: stalling.url, VERIFY_FIRST_PATIENCE_MS: "300", UPSTREAM_IDLE_TIMEOUT_MS: "1500" });
    // A cold range starts the fill (it streams, with the configured idle timeout); once that fill is
    // running, the whole GET joins it and waits.
    const ranged = m.fetch(pkg(), { headers: { range: "bytes=0-9" } });
    while ((await gets(stalling, pkg())) === 0) await sleep(10);
    const asked = Date.now();
    const res = await m.fetch(pkg());
    const waited = Date.now() - asked;
    expect(waited, "the status line waited for the patience").toBeGreaterThanOrEqual(250);
    expect(waited, "and not for the running fill's end (its idle timeout is 1500 ms)").toBeLessThan(1200);
    expect(res.status).toBe(200);
    expect((await outcome(res)).clean).toBe(false);
    await (await ranged).body?.cancel();
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("streams at once an object larger than VERIFY_FIRST_MAX_BYTES", async () => {
    const slow = await upstream({ faults: { [pkg()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: slow.url, VERIFY_FIRST_MAX_BYTES: "100" });
    const asked = Date.now();
    const res = await m.fetch(pkg());
    expect(Date.now() - asked, "headers before the two-second body is done").toBeLessThan(1500);
    const got = await outcome(res);
    expect(got.clean).toBe(true);
    await m.settle();
  });
});
