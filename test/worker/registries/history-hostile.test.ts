/**
 * The history ordering under attack: a snapshot the registry's history never had (a tree on
 * another branch the origin still serves), a history read that does not reach the published
 * snapshot, a revert, a first snapshot while the history is rate-limited, and the budgets a
 * hostile upstream could spend (candidates, fills, HEAD probes, history reads).
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { bucket, manifest, testWorker, type TestWorker, storedText, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const snap = (i: number) => manifest.snapshots[i]!;
const list = (i: number) => `${snap(i)}\n`;
const hashOf = (i: number) => manifest.objects[snap(i)]!.treeHash;
const UUID = manifest.registryUuid;
const published = () => storedText("registries.conservative");
/** Snapshot 3 plus Seedling and Hello_jll 1.1.0: only adds. Stands for a tree on a branch or a fork the origin serves. */
const BRANCH = manifest.prefetch.next;

async function report(m: TestWorker): Promise<any> {
  return ((await (await m.fetch("/meta")).json()) as any).registries.conservative.by_registry[UUID];
}

describe("a tree the origin serves but the registry's history never had", () => {
  it("is not published on content alone while the history is read and holds the published snapshot", async () => {
    // The registry's default branch: snapshots 1, 2, 3 (the fixture's history). The origin (as GitHub's
    // tarball URL does for any tree in the repository or its forks) also knows BRANCH.
    const history = await upstream({ history: [hashOf(0), hashOf(1), hashOf(2)] });
    const honest = await upstream({ lists: { conservative: list(1) } });
    const hostile = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${hostile.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    // The hostile upstream lists a tree built from the published one plus versions of its own.
    await hostile.reconfigure({ lists: { conservative: `${BRANCH}\n` } });
    await m.scheduled();
    const info = await report(m);
    expect(await published(), `never in the history read (history_read_at ${info.history_read_at}, proof ${info.proof})`).toBe(list(1));
    await m.settle();
  });

  it("once such a tree is published, the registry's real advance is still followed", async () => {
    const history = await upstream({ history: [hashOf(0), hashOf(1), hashOf(2)] });
    const honest = await upstream({ lists: { conservative: list(1) } });
    const hostile = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${hostile.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    await hostile.reconfigure({ lists: { conservative: `${BRANCH}\n` } });
    await m.scheduled();
    // The hostile upstream goes away; the registry moves on to snapshot 3 (the head of its history).
    await hostile.reconfigure({ lists: { conservative: list(2) } });
    await honest.reconfigure({ lists: { conservative: list(2) } });
    await bucket().delete(`_pkgedge/history.${UUID}.json`);
    await m.scheduled();
    const info = await report(m);
    expect(await published(), `refused: ${JSON.stringify(info.refused)}`).toBe(list(2));
    await m.settle();
  });
});

const junk = (n: number) => Array.from({ length: n }, (_, i) => `/registry/${UUID}/${(i + 1).toString(16).padStart(40, "0")}\n`).join("");

describe("liveness: a hostile upstream's unproven candidates and the per-round budget", () => {
  it("follows the real advance while the history is down, whatever else one upstream lists", async () => {
    const history = await upstream({ history: "down" });
    const honest = await upstream({ lists: { conservative: list(0) } });
    const hostile = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${hostile.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    // Five hashes no origin knows, each sorting before any real one; the honest upstream advances.
    await hostile.reconfigure({ lists: { conservative: junk(5) } });
    await honest.reconfigure({ lists: { conservative: list(1) } });
    for (let i = 0; i < 3; i++) await m.scheduled();
    const info = await report(m);
    expect(await published(), `capped: ${info.capped}; refused: ${info.refused.map((r: any) => r.reason).join(" | ")}`).toBe(list(1));
    await m.settle();
  });
});

describe("wasted upstream load: one upstream's list length", () => {
  it("does not probe the other upstreams for every hash one upstream lists", async () => {
    const honest = await upstream({ lists: { conservative: list(0) } });
    const hostile = await upstream({ lists: { conservative: `${list(0)}${junk(300)}` } });
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${hostile.url}` });
    await m.scheduled();
    const heads = (await honest.log()).filter((r) => r.method === "HEAD").length;
    expect(heads, "HEAD requests the honest upstream received in one round").toBeLessThanOrEqual(10);
    await m.settle();
  });
});

describe("a cached history window left by an earlier REGISTRY_HISTORY", () => {
  it("does not order snapshots by the old history once the variable names another one", async () => {
    // An earlier REGISTRY_HISTORY (another branch, where snapshot 1's tree came back after snapshot 2's)
    // left this window in the bucket, read a moment ago.
    const at = new Date().toISOString();
    await bucket().putSmall(
      `_pkgedge/history.${UUID}.json`,
      JSON.stringify({ trees: [hashOf(0), hashOf(1)], readAt: at, attemptAt: at, failures: 0, lastError: null }),
      { contentType: "application/json" },
    );
    // The history the variable names now: snapshots 1, 2, 3 in that order.
    const history = await upstream({ history: [hashOf(0), hashOf(1), hashOf(2)] });
    const up = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    await up.reconfigure({ lists: { conservative: list(0) } }); // a rollback upstream
    await m.scheduled();
    const reads = (await history.log()).filter((r) => r.path === "/history").length;
    const info = await report(m);
    expect(await published(), `history reads: ${reads}; proof ${info.proof}`).toBe(list(1));
    await m.settle();
  });
});

describe("a history read that does not reach back to the published snapshot", () => {
  it("still orders the head against the published snapshot the earlier window held", async () => {
    const history = await upstream({ history: [hashOf(0), hashOf(1)] });
    const up = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    // The list stalls for a while (a day of General is a few hundred commits): the next read's page of
    // newest commits no longer reaches snapshot 2. Snapshot 3 only edits metadata, so content cannot tell.
    await history.reconfigure({ history: [hashOf(2)] });
    const key = `_pkgedge/history.${UUID}.json`;
    const cached = JSON.parse((await storedText(key))!);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    await bucket().putSmall(key, JSON.stringify({ ...cached, readAt: hourAgo, attemptAt: hourAgo }), { contentType: "application/json" });
    await up.reconfigure({ lists: { conservative: list(2) } });
    await m.scheduled();
    const after = JSON.parse((await storedText(key))!);
    const info = await report(m);
    expect(await published(), `cached trees now: ${after.trees.length}; refused: ${JSON.stringify(info.refused)}`).toBe(list(2));
    await m.settle();
  });
});

describe("a revert back to a snapshot pkgedge published before", () => {
  it("follows the registry when its head restores an earlier tree", async () => {
    const history = await upstream({ history: [hashOf(0), hashOf(1)] });
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    // Snapshot 2 broke something: the registry reverts, and its head's tree is snapshot 1's again.
    await history.reconfigure({ history: [hashOf(0), hashOf(1), hashOf(0)] });
    await bucket().delete(`_pkgedge/history.${UUID}.json`);
    await up.reconfigure({ lists: { conservative: list(0) } });
    await m.scheduled();
    const info = await report(m);
    expect(await published(), `refused: ${JSON.stringify(info.refused)}`).toBe(list(0));
    await m.settle();
  });
});

describe("a history that answers at once and then dribbles its body", () => {
  it("does not hold the refresh round past the upstream timeout", async () => {
    const history = await upstream({ history: "dribble" });
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: `${UUID}=${history.url}/history`, UPSTREAM_TIMEOUT_MS: "2000" });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    await up.reconfigure({ lists: { conservative: list(1) } });
    const started = Date.now();
    await m.scheduled();
    const took = Date.now() - started;
    expect(await published()).toBe(list(1));
    expect(took, "the round's duration (ms)").toBeLessThan(15_000);
    await m.settle();
  }, 90_000);
});

describe("liveness: candidates already compared still spend the round's fills", () => {
  it("follows an advance content proves while the history is down, past two real snapshots it cannot take", async () => {
    const history = await upstream({ history: "down" });
    const honest = await upstream({ lists: { conservative: list(1) } });
    const other = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${other.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    // The other upstream lists snapshot 1 (older by content) and snapshot 3 (the same versions): both
    // real, both sorting before the advance; the honest one lists the advance (snapshot 2 plus Seedling).
    await other.reconfigure({ lists: { conservative: `${list(0)}${list(2)}` } });
    await honest.reconfigure({ lists: { conservative: `${BRANCH}\n` } });
    for (let i = 0; i < 3; i++) await m.scheduled();
    const info = await report(m);
    expect(await published(), `capped: ${info.capped}; refused: ${info.refused.map((r: any) => r.reason.slice(0, 40)).join(" | ")}`).toBe(
      `${BRANCH}\n`,
    );
    await m.settle();
  });
});

describe("a registry's first snapshot while the history cannot be read", () => {
  it("is not the older of two real snapshots just because its hash sorts first", async () => {
    const history = await upstream({ history: "rate-limited" });
    const honest = await upstream({ lists: { conservative: list(1) } });
    const hostile = await upstream({ lists: { conservative: list(0) } });
    // Snapshot 1's hash sorts before snapshot 2's; one upstream lists each.
    expect(hashOf(0) < hashOf(1)).toBe(true);
    const m = testWorker({ UPSTREAM_SERVERS: `${honest.url},${hostile.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    const info = await report(m);
    expect(await published(), `proof ${info.proof}; refused ${JSON.stringify(info.refused)}`).toBe(list(1));
    await m.settle();
  });
});

describe("the history's request budget", () => {
  it("reads the history at most once per round for both flavors (the documented once every 50 s per registry)", async () => {
    const history = await upstream({});
    const reads = async () => (await history.log()).filter((r) => r.path === "/history").length;
    const up = await upstream({ lists: { conservative: list(0), eager: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    const key = `_pkgedge/history.${UUID}.json`;
    const perRound: number[] = [];
    for (let i = 1; i <= 4; i++) {
      // A minute passes (the cached attempt is moved back), and an upstream lists a hash nobody has seen, in both lists.
      const cached = JSON.parse((await storedText(key))!);
      const minuteAgo = new Date(Date.now() - 60_000).toISOString();
      await bucket().putSmall(key, JSON.stringify({ ...cached, attemptAt: minuteAgo, readAt: minuteAgo }), {
        contentType: "application/json",
      });
      const fresh = `/registry/${UUID}/${(0xabc000 + i).toString(16).padStart(40, "0")}\n`;
      await up.reconfigure({ lists: { conservative: `${list(0)}${fresh}`, eager: `${list(0)}${fresh}` } });
      const before = await reads();
      await m.scheduled();
      perRound.push((await reads()) - before);
    }
    expect(Math.max(...perRound), `history reads per round: ${perRound.join(", ")}`).toBeLessThanOrEqual(1);
    await m.settle();
  });
});
