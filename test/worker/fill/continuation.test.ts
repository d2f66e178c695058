/**
 * Resume instead of breaking: when an upstream's body breaks mid-transfer, the fill continues from
 * the byte reached with a ranged GET (to another upstream, or the same one after a pause), and
 * every requester's stream goes on. The final check still decides, and whoever supplied bytes of a
 * fill that fails it is passed over.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { auditBucket, bucketKeys, manifest, outcome, sha256, testWorker, upstream, type Fault } from "../harness";
import { nextSource } from "../../../worker/fill/continuation";

afterEach(() => vi.restoreAllMocks());

const big = () => manifest.bigArtifact; // ~390 KB, incompressible: artifacts stream as they fill
const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
/** The good upstream answers its HEAD later, so the faulty one is chosen first. */
const LATER = { headDelayMs: 200 };
const FAST = { UPSTREAM_IDLE_TIMEOUT_MS: "300" };

type Logged = { method: string; path: string; headers: Record<string, string> };
const getsOf = async (up: { log(): Promise<Logged[]> }, path: string) =>
  (await up.log()).filter((r) => r.method === "GET" && r.path === path);

/** The log lines of one event, parsed. */
function events(spy: { mock: { calls: unknown[][] } }, event: string): Record<string, unknown>[] {
  return spy.mock.calls
    .map((c) => String(c[0]))
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe.each<Fault>(["reset", "truncate", "stall"])("the fastest upstream's body breaks halfway (%s)", (fault) => {
  it("continues from the byte reached on the other upstream: the first GET ends cleanly with the right bytes", async () => {
    const info = vi.spyOn(console, "log");
    const bad = await upstream({ faults: { [big()]: fault } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
    const first = await outcome(await m.fetch(big()));
    expect(first.status).toBe(200);
    expect(first.clean, "the requester's stream went on").toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[big()]!.sha256);
    expect((await getsOf(bad, big())).length).toBe(1);
    const fromGood = await getsOf(good, big());
    expect(
      fromGood.map((r) => r.headers.range),
      "only the rest was asked of the good upstream",
    ).toEqual([expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    await m.settle();
    expect(await auditBucket()).toEqual([big().slice(1)]);
    const continued = events(info, "fill_continued");
    expect(continued).toHaveLength(1);
    expect(continued[0]).toMatchObject({ upstream: good.url });
    expect(events(info, "fill_committed")[0]).toMatchObject({ suppliers: [bad.url, good.url] });
  });
});

describe("continuing a broken body", () => {
  it("asks the same upstream again after a pause when no other has it", async () => {
    const flaky = await upstream({ faults: { [big()]: "reset-once" } });
    const m = testWorker({ UPSTREAM_SERVERS: flaky.url });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean).toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[big()]!.sha256);
    const got = await getsOf(flaky, big());
    expect(got.map((r) => r.headers.range ?? "whole")).toEqual(["whole", expect.stringMatching(/^bytes=\d+-$/)]);
    await m.settle();
    expect(await auditBucket()).toEqual([big().slice(1)]);
  });

  it("reads an upstream that ignores the range from its start, dropping the bytes already had", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const whole = await upstream({ faults: { [big()]: "no-ranges" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${whole.url}`, ...FAST });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean).toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[big()]!.sha256);
    expect((await getsOf(whole, big())).map((r) => r.headers.range)).toEqual([expect.stringMatching(/^bytes=\d+-$/)]);
    await m.settle();
    expect(await auditBucket()).toEqual([big().slice(1)]);
  });

  it("keeps every requester's stream going: a crowd, a late joiner and a range", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
    const crowd = Array.from({ length: 20 }, () => m.fetch(big()).then(outcome));
    const ranged = m.fetch(big(), { headers: { range: "bytes=300000-300099" } }).then(outcome);
    const results = await Promise.all(crowd);
    const lateResponse = await m.fetch(big());
    const lateHeaders = JSON.stringify(Object.fromEntries(lateResponse.headers));
    const late = await outcome(lateResponse);
    for (const [i, r] of [...results, late].entries()) {
      const who = i < results.length ? `requester ${i}` : `the late joiner (${lateHeaders})`;
      expect(r.clean, who).toBe(true);
      expect(r.status, who).toBe(200);
      if (r.clean) expect(await sha256(r.bytes), `${who}: ${r.bytes.length} bytes`).toBe(manifest.objects[big()]!.sha256);
    }
    const range = await ranged;
    expect(range.status).toBe(206);
    expect(range.clean).toBe(true);
    expect([(await getsOf(bad, big())).length, (await getsOf(good, big())).length], "one GET each for the crowd").toEqual([1, 1]);
    await m.settle();
  });

  it("ends in a broken transfer when the continued bytes fail the check; the next fill is whole, from one upstream, so its bytes say whose were wrong", async () => {
    const warn = vi.spyOn(console, "warn");
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const badRanges = await upstream({ faults: { [big()]: "bad-ranges" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${badRanges.url}`, ...FAST });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean, "never a clean wrong body").toBe(false);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
    expect(events(warn, "fill_rejected")[0]).toMatchObject({ suppliers: [bad.url, badRanges.url] });
    // Neither is passed over for bytes nobody can pin on it; the next fill is not continued.
    const ranged = async () => (await getsOf(badRanges, big())).filter((r) => r.headers.range).length;
    const rangedBefore = await ranged();
    const second = await outcome(await m.fetch(big()));
    expect(second.clean, "the first upstream broke again, and was not continued").toBe(false);
    await m.settle();
    expect(await ranged(), "no ranged GET for a fill that must be whole").toBe(rangedBefore);
    // That break passed the first over (another upstream has the key): the next fill is the other's whole body.
    const third = await outcome(await m.fetch(big()));
    expect(third.clean).toBe(true);
    if (third.clean) expect(await sha256(third.bytes)).toBe(manifest.objects[big()]!.sha256);
    await m.settle();
    expect(await bucketKeys()).toEqual([big().slice(1)]);
  });

  it("gives up after FILL_MAX_RESUMPTIONS ranged GETs, with a broken transfer", async () => {
    const one = await upstream({ faults: { [big()]: "reset" } });
    const two = await upstream({ faults: { [big()]: "reset" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${one.url},${two.url}`, FILL_MAX_RESUMPTIONS: "2" });
    expect((await outcome(await m.fetch(big()))).clean).toBe(false);
    await m.settle();
    const asked = [...(await getsOf(one, big())), ...(await getsOf(two, big()))];
    expect(asked.filter((r) => r.headers.range).length, "the budget of ranged GETs").toBe(2);
    expect(await bucketKeys()).toEqual([]);
  });

  it("a break of every upstream passes over only the one that broke last: once they heal, the next request fills", async () => {
    const one = await upstream({ faults: { [big()]: "reset" } });
    const two = await upstream({ faults: { [big()]: "reset" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${one.url},${two.url}`, FILL_MAX_RESUMPTIONS: "2" });
    expect((await outcome(await m.fetch(big()))).clean).toBe(false);
    await m.settle();
    // A network blip, not bad bytes: both are well again.
    const name = (u: string) => u.slice(u.lastIndexOf("/u/") + 3);
    await upstream({}, name(one.url));
    await upstream({ ...LATER }, name(two.url));
    const next = await m.fetch(big());
    expect(next.status, "not a 502 for the ten minutes bad bytes would cost").toBe(200);
    const got = await outcome(next);
    expect(got.clean).toBe(true);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[big()]!.sha256);
    await m.settle();
  });

  it("does not splice a range an upstream re-encoded in transit (Content-Encoding): the next source gives the rest", async () => {
    const warn = vi.spyOn(console, "warn");
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const encoding = await upstream({ faults: { [big()]: "encoded-ranges" }, headDelayMs: 100 });
    const good = await upstream({ headDelayMs: 300 });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${encoding.url},${good.url}` });
    const got = await outcome(await m.fetch(big()));
    expect(got.clean).toBe(true);
    await m.settle();
    const refused = events(warn, "fill_continue_failed").filter((e) => e.upstream === encoding.url);
    expect(refused.map((e) => e.error)).toEqual([expect.stringContaining("Content-Encoding gzip")]);
    expect((await getsOf(good, big())).filter((r) => r.headers.range)).toHaveLength(1);
  });

  it("breaks as before with FILL_MAX_RESUMPTIONS=0", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, FILL_MAX_RESUMPTIONS: "0" });
    expect((await outcome(await m.fetch(big()))).clean).toBe(false);
    expect((await getsOf(good, big())).filter((r) => r.headers.range)).toEqual([]);
    await m.settle();
  });

  it("continues a package fill that requesters wait for: the first GET is a verified 200 with one GET per upstream", async () => {
    const bad = await upstream({ faults: { [pkg()]: "reset" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}` });
    const first = await outcome(await m.fetch(pkg()));
    expect(first.status).toBe(200);
    expect(first.clean).toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    expect(
      (await getsOf(good, pkg())).map((r) => r.headers.range),
      "the rest only, not a second fill",
    ).toEqual([expect.stringMatching(/^bytes=\d+-$/)]);
    await m.settle();
  });
});

describe("the next source", () => {
  const order = ["a", "b", "c"];
  it("goes round the upstreams after the one that broke, skipping those passed over, and comes back to it last", () => {
    expect(nextSource(order, "a", () => false)).toBe("b");
    expect(nextSource(order, "c", () => false)).toBe("a");
    expect(nextSource(order, "a", (u) => u === "b")).toBe("c");
    expect(nextSource(order, "a", (u) => u !== "a")).toBe("a");
    expect(nextSource(["a"], "a", () => false)).toBe("a");
  });
});
