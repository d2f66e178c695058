/**
 * Never backwards, proven: the list moves only to a snapshot the registry's history (or its
 * content) proves newer than the published one, whatever the upstreams list, lag or fail; a proven
 * advance is followed in the same round; the history is read only when a listed snapshot is not in
 * what was read, and its failures are reported in /meta, never thrown.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { bucket, manifest, testWorker, type TestWorker, storedText, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const snap = (i: number) => manifest.snapshots[i]!;
const list = (i: number) => `${snap(i)}\n`;
const hashOf = (i: number) => manifest.objects[snap(i)]!.treeHash;
const UUID = manifest.registryUuid;
const published = () => storedText("registries.conservative");

async function report(m: TestWorker): Promise<any> {
  return ((await (await m.fetch("/meta")).json()) as any).registries.conservative.by_registry[UUID];
}

/** A history served by its own fixture upstream (to count its reads, or make it fail). */
async function historyServer(history?: "down" | "rate-limited" | "429" | "endless") {
  const server = await upstream(history ? { history } : {});
  const reads = async () => (await server.log()).filter((r) => r.path === "/history").length;
  return { server, reads, variable: `${UUID}=${server.url}/history` };
}

describe("a lagging upstream, an unreachable one, and an advance", () => {
  it("never publishes the lagging upstream's older snapshot while the other cannot be read, and follows the next advance at once", async () => {
    // A never received snapshot 1: it holds and lists snapshot 0. B holds everything and lists snapshot 1.
    const a = await upstream({ lists: { conservative: list(0) }, only: [snap(0)] });
    const b = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    expect(await published()).toBe(list(1));

    await b.reconfigure({ lists: {}, only: [] }); // B cannot be read for a round
    await m.scheduled();
    expect(await published(), "A's snapshot 0 is a real one its origin knows, but older").toBe(list(1));
    const refused = (await report(m)).refused;
    expect(refused).toEqual([{ hash: hashOf(0), reason: "older than the published snapshot in the registry's history" }]);

    await b.reconfigure({ lists: { conservative: list(1) } }); // B is back
    await m.scheduled();
    expect(await published()).toBe(list(1));

    await b.reconfigure({ lists: { conservative: list(2) } }); // and General moves on
    await m.scheduled();
    expect(await published(), "a proven advance is followed in the same round").toBe(list(2));
    const info = await report(m);
    expect(info).toMatchObject({ hash: hashOf(2), proof: "history", position: 1, history_failures: 0, last_history_error: null });
    expect(info.history_read_at).not.toBeNull();
    await m.settle();
  });
});

describe("a complete advance", () => {
  it("is followed within one round when every upstream moves to the next snapshot together", async () => {
    const a = await upstream({ lists: { conservative: list(0) } });
    const b = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    await a.reconfigure({ lists: { conservative: list(1) } });
    await b.reconfigure({ lists: { conservative: list(1) } });
    const started = Date.now();
    await m.scheduled();
    expect(await published()).toBe(list(1));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await report(m)).proof).toBe("history");
    await m.settle();
  });
});

describe("when the history cannot order a candidate", () => {
  it.each([["rate-limited (403)", "rate-limited"] as const, ["rate-limited (429)", "429"] as const, ["down", "down"] as const])(
    "history %s: a candidate its content proves newer is followed in the same round, and the failure is in /meta",
    async (_, mode) => {
      const history = await historyServer(mode);
      const up = await upstream({ lists: { conservative: list(0) } });
      const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable });
      await m.scheduled(); // a first snapshot needs no proof
      expect(await published()).toBe(list(0));
      await up.reconfigure({ lists: { conservative: list(1) } });
      await m.scheduled();
      expect(await published(), "it adds versions and removes none").toBe(list(1));
      const info = await report(m);
      expect(info.proof).toBe("content");
      expect(info.history_failures).toBeGreaterThan(0);
      expect(info.last_history_error).toMatch(mode === "down" ? /503/ : /rate limited/);
      // The upstream rolls back: the older snapshot is never published again.
      await up.reconfigure({ lists: { conservative: list(0) } });
      await m.scheduled();
      expect(await published()).toBe(list(1));
      await m.settle();
    },
  );

  it("orders by the history again once it can be read", async () => {
    const history = await historyServer("down");
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable });
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect((await report(m)).proof).toBe("content");
    await history.server.reconfigure({});
    // As if the read interval had passed: the cache says when it last asked.
    await bucket().delete(`_pkgedge/history.${UUID}.json`);
    await up.reconfigure({ lists: { conservative: list(2) } });
    await m.scheduled();
    expect(await published()).toBe(list(2));
    expect((await report(m)).proof).toBe("history");
    await m.settle();
  });
});

describe("reading the history", () => {
  it("reads it once while every listed snapshot is in what was read, whatever the rounds and flavors", async () => {
    const history = await historyServer();
    const up = await upstream({ lists: { conservative: list(0), eager: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable });
    await m.scheduled();
    // The two flavors' first refreshes run at once, both before any read is cached: one read each at most.
    const first = await history.reads();
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(2);
    for (let i = 0; i < 2; i++) await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1), eager: list(2) } });
    for (let i = 0; i < 3; i++) await m.scheduled();
    expect(await published()).toBe(list(1));
    expect(await history.reads()).toBe(first);
    await m.settle();
  });

  it("is not read when no listed snapshot could replace the published one, even one the history lacks", async () => {
    const history = await historyServer();
    await history.server.reconfigure({ history: [hashOf(1), hashOf(2)] }); // snapshot 0 fell out of it
    const up = await upstream({ lists: { conservative: list(0) } });
    const vars = { UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable };
    const first = testWorker(vars);
    await first.scheduled(); // a first snapshot: published without proof
    expect(await published()).toBe(list(0));
    await first.settle();
    const reads = await history.reads();
    // Another isolate, with nothing cached: only the published snapshot is listed.
    await bucket().delete(`_pkgedge/history.${UUID}.json`);
    const other = testWorker(vars);
    await other.scheduled();
    expect(await history.reads()).toBe(reads);
    await other.settle();
  });

  it("never sends GITHUB_TOKEN to a history that is not api.github.com", async () => {
    const history = await historyServer();
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable, GITHUB_TOKEN: "ghp_secret" });
    await m.scheduled();
    const asked = (await history.server.log()).filter((r) => r.path === "/history");
    expect(asked.length).toBe(1);
    expect(asked[0]!.headers.authorization).toBeUndefined();
    await m.settle();
  });
});

describe("a history that is not a straight line, and a cache that cannot be trusted", () => {
  it("never moves from the head's tree to that of the commit a revert undid (a tree twice in the history)", async () => {
    // Oldest first: snapshot 0, snapshot 1, then a revert that restores snapshot 0's tree (the head).
    const history = await upstream({ history: [hashOf(0), hashOf(1), hashOf(0)] });
    const a = await upstream({ lists: { conservative: list(0) } });
    const lagging = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${lagging.url}`, REGISTRY_HISTORY: `${UUID}=${history.url}/history` });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    await lagging.reconfigure({ lists: { conservative: list(1) } }); // still lists the reverted commit's tree
    await m.scheduled();
    expect(await published(), "snapshot 1 is older than the head (position 1 against 0)").toBe(list(0));
    await m.settle();
  });

  /**
   * With `cached` (given the configured history's URL) in the bucket as the history's copy, the
   * list still moves from snapshot 0 to 1, after asking the configured history.
   */
  async function advancesPast(cached: (source: string) => object): Promise<TestWorker> {
    const history = await historyServer();
    await bucket().putSmall(`_pkgedge/history.${UUID}.json`, JSON.stringify(cached(`${history.server.url}/history`)), {
      contentType: "application/json",
    });
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable });
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    expect(await history.reads(), "the configured history was asked").toBeGreaterThan(0);
    return m;
  }

  it.each([
    ["another history URL (REGISTRY_HISTORY changed)", () => "https://other.example/history", () => [hashOf(0), hashOf(1)]],
    ["this URL but trees that are not tree hashes", (url: string) => url, () => [hashOf(0), "x"]],
  ])("never orders by a cached window read from %s", async (_, source, trees) => {
    // The cached window says snapshot 1 is older than 0; the history the worker is given says newer.
    const now = new Date().toISOString();
    const m = await advancesPast((url) => ({ source: source(url), trees: trees(), readAt: now, attemptAt: now }));
    await m.settle();
  });

  it.each([
    ["an attempt time that is not a date", { trees: [], attemptAt: "not a date" }],
    ["an attempt time in the far future", { trees: [], attemptAt: "2999-01-01T00:00:00.000Z" }],
    ["a rate-limit pause past an hour", { trees: [], notBefore: "2999-01-01T00:00:00.000Z" }],
  ])("reads the history again past a cached copy (of this history) with %s", async (_, corrupt) => {
    const m = await advancesPast((source) => ({ source, ...corrupt }));
    expect((await report(m)).proof).toBe("history");
    await m.settle();
  });

  it("gives up on a history body without a length past its bound, and reports it", async () => {
    const history = await historyServer("endless");
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_HISTORY: history.variable });
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    const info = await report(m);
    expect(info.last_history_error).toMatch(/sent more than \d+ bytes of history/);
    expect(await published(), "content proves the advance instead").toBe(list(1));
    const sent = (await history.server.log()).filter((r) => r.path === "/history").map((r) => r.sent);
    expect(Math.max(...sent), "the body was not read to its end (64 MiB)").toBeLessThan(32 * 1024 * 1024);
    await m.settle();
  });
});
