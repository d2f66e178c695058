/**
 * The continuation of a broken fill under attack: what a requester gets, where the rest is asked
 * for, and what is passed over, when the upstream asked for the rest is the one at fault, or the break was transient.
 */

import { describe, expect, it } from "vitest";
import { auditBucket, manifest, outcome, sha256, testWorker, upstream } from "../harness";

const big = () => manifest.bigArtifact; // ~390 KB: artifacts stream as they fill
const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
/** The second upstream answers its HEAD later, so the first is chosen first. */
const LATER = { headDelayMs: 200 };

type Logged = { method: string; path: string; headers: Record<string, string> };
const getsOf = async (up: { log(): Promise<Logged[]> }, path: string) =>
  (await up.log()).filter((r) => r.method === "GET" && r.path === path);

describe("a transient break continued from an upstream whose ranges are wrong", () => {
  it("a cold package whose whole bytes both upstreams serve well is a verified 200 on the first GET", async () => {
    // The first upstream resets once (a transient break); the second answers whole GETs well but
    // its ranged answers are wrong (a cache serving another version's bytes for ranges).
    const flaky = await upstream({ faults: { [pkg()]: "reset-once" } });
    const badRanges = await upstream({ faults: { [pkg()]: "bad-ranges" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${flaky.url},${badRanges.url}` });
    const first = await outcome(await m.fetch(pkg()));
    const asked = {
      flaky: (await getsOf(flaky, pkg())).map((r) => r.headers.range ?? "whole"),
      badRanges: (await getsOf(badRanges, pkg())).map((r) => r.headers.range ?? "whole"),
    };
    expect(first.status, `first GET; upstream GETs: ${JSON.stringify(asked)}`).toBe(200);
    expect(first.clean).toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    const second = await outcome(await m.fetch(pkg()));
    expect(second.status, "the next GET").toBe(200);
  });
});

describe("where the rest is asked for", () => {
  it("asks upstreams that have the object, not those whose HEAD said 404, so the budget reaches the good one", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const empties = await Promise.all([1, 2, 3].map(() => upstream({ only: [] })));
    const good = await upstream(LATER);
    const all = [bad, ...empties, good];
    const m = testWorker({ UPSTREAM_SERVERS: all.map((u) => u.url).join(","), UPSTREAM_IDLE_TIMEOUT_MS: "300" });
    const first = await outcome(await m.fetch(big()));
    const asked = await Promise.all(all.map(async (u) => (await getsOf(u, big())).map((r) => r.headers.range ?? "whole")));
    expect(first.clean, `upstream GETs in configured order: ${JSON.stringify(asked)}`).toBe(true);
    if (first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[big()]!.sha256);
    await m.settle();
  });
});

describe("the source of the rest runs past the object's end", () => {
  it("a chunked answer to the ranged GET with more bytes than the object: a broken transfer or the right bytes, promptly, nothing stored", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const long = await upstream({ faults: { [big()]: "overlong-no-length" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${long.url}`, UPSTREAM_IDLE_TIMEOUT_MS: "300", FILL_MAX_RESUMPTIONS: "1" });
    const started = Date.now();
    const res = await m.fetch(big());
    const first = await Promise.race([outcome(res), new Promise<"hung">((r) => setTimeout(() => r("hung"), 8000))]);
    expect(first, "the requester's transfer ended (cleanly or broken) within 8 s").not.toBe("hung");
    if (first !== "hung" && first.clean) expect(await sha256(first.bytes)).toBe(manifest.objects[big()]!.sha256);
    const settled = await Promise.race([m.settle().then(() => "settled"), new Promise((r) => setTimeout(() => r("hung"), 8000))]);
    expect(settled, `the fill settled (${Date.now() - started} ms)`).toBe("settled");
    await auditBucket();
  }, 30_000);
});

describe("a late joiner of a continued fill", () => {
  it("catches up from the upstream the fill continued from, not from the one that broke", async () => {
    const bad = await upstream({ faults: { [big()]: "reset" } });
    const good = await upstream({ rangedRate: 100 * 1024, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, UPSTREAM_IDLE_TIMEOUT_MS: "2000", FILL_WINDOW_BYTES: "65536" });
    const early = m.fetch(big()).then(outcome);
    while ((await getsOf(good, big())).length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 800)); // the fill is ~80 KB into the rest: past a 64 KiB window
    const late = await outcome(await m.fetch(big()));
    const first = await early;
    expect(first.clean).toBe(true);
    expect(late.clean).toBe(true);
    if (late.clean) expect(await sha256(late.bytes)).toBe(manifest.objects[big()]!.sha256);
    await m.settle();
    const badGets = (await getsOf(bad, big())).map((r) => r.headers.range ?? "whole");
    const goodGets = (await getsOf(good, big())).map((r) => r.headers.range ?? "whole");
    expect(badGets, `GETs of the broken upstream (the good one got ${JSON.stringify(goodGets)})`).toEqual(["whole"]);
  }, 30_000);
});
