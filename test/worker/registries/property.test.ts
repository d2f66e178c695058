/**
 * The registry refresh in a simulated world, thousands of rounds: honest upstreams that advance,
 * lag in what they list, roll back and go down; a hostile upstream listing snapshots of its own or
 * old ones; an origin that is slow or down; the origin's history (the ground truth: the order the
 * snapshots were committed) slow, rate-limited (403 and 429, with a reset) or down, so that content
 * order stands in; several refreshes at once (isolates and the cron). The refresh code and the
 * bucket are the real ones; only the upstreams, the origin and its history are an in-memory double.
 * After every list the bucket accepts: the published snapshot's position in the origin's history
 * never decreases, it is one the origin knows, stored and verified; and once every answering
 * upstream lists the newest snapshot while the history can be read, it is published that round.
 *
 * The per-registry decision (choice.ts) is also driven directly in the same world, with no bucket
 * and the checks it asks for answered from the world: many more rounds in a fraction of the time.
 *
 * Seeded and reproducible: a failure names its seed and round (PKGEDGE_PROPERTY_SEED=n reruns one).
 */

import { beforeEach, describe, expect, it, vi } from "vitest";
import { backend, bucket, manifest } from "../harness";
import { refreshFlavor } from "../../../worker/registries/refresh";
import type { RegistrySources } from "../../../worker/registries/sources";
import {
  decide,
  MAX_CANDIDATES_PER_ROUND,
  MAX_FILLS_PER_ROUND,
  type HistoryOrder,
  type Known,
  type Verdict,
} from "../../../worker/registries/choice";
import type { ContentOrder } from "../../../worker/registries/content-order";
import type { HistoryRead } from "../../../worker/registries/history";
import { observe, quorumHolds, type Observation } from "../../../worker/registries/order";
import { RefreshMemory } from "../../../worker/registries/memory";
import { parseRegistryList, type RegistryRef } from "../../../worker/protocol/paths";
import type { ObjectStore } from "../../../worker/store/store";

const UUID = manifest.registryUuid;
const OTHER_UUID = "0b1a5e5e-0000-4000-8000-000000000001"; // listed by the hostile upstream, never allowed
const FLAVOR = "eager" as const;

/** A small, seeded PRNG (mulberry32), so every world replays exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashFrom(random: () => number): string {
  let s = "";
  for (let i = 0; i < 40; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

interface Honest {
  name: string;
  /** Snapshots it stores: always a prefix of the registry's history (storage servers keep every one). */
  stored: number;
  /** Index of the snapshot it lists (at most its newest). */
  lists: number;
  down: boolean;
}

/** How the origin's history answers this round. */
type HistoryMode = "ok" | "slow" | "rate-limited" | "429" | "down";

interface World {
  random: () => number;
  /** Every real snapshot, in the order it was committed: the origin's history. */
  snapshots: string[];
  originDown: boolean;
  history: HistoryMode;
  /** The simulated time (ms), for rate limits' resets. */
  clock: number;
  honest: Honest[];
  hostile: { name: string; lists: string; down: boolean; fakes: Set<string> } | null;
  committed: Set<string>;
  /** When a fill of each hash last failed (the refresh does not retry one for ten minutes). */
  unstorableAt: Map<string, number>;
}

/** Storage servers keep every snapshot they synced; the hostile one has its own and all but the newest real one. */
function honestHas(world: World, u: Honest, hash: string): boolean {
  const i = world.snapshots.indexOf(hash);
  return i >= 0 && i < u.stored;
}

function hostileHas(world: World, hash: string): boolean {
  return world.hostile!.fakes.has(hash) || world.snapshots.slice(0, -1).includes(hash);
}

function sourcesFor(world: World): RegistrySources {
  const all = [...world.honest.map((u) => u.name), ...(world.hostile ? [world.hostile.name] : [])];
  // Lets concurrent refreshes interleave at every step (the bucket's own operations interleave them too).
  const yieldNow = async () => {
    for (let i = Math.floor(world.random() * 4); i > 0; i--) await Promise.resolve();
  };
  return {
    upstreams: all,
    async listed(name) {
      await yieldNow();
      const h = world.honest.find((u) => u.name === name);
      if (h) return h.down ? `${name}: down` : [{ uuid: UUID, treeHash: world.snapshots[h.lists]! }];
      const x = world.hostile!;
      return x.down
        ? `${name}: down`
        : [
            { uuid: UUID, treeHash: x.lists },
            { uuid: OTHER_UUID, treeHash: hashFrom(world.random) },
          ];
    },
    async holders(names, ref: RegistryRef) {
      await yieldNow();
      return names.filter((name) => {
        const h = world.honest.find((u) => u.name === name);
        if (h) return !h.down && honestHas(world, h, ref.treeHash);
        return !world.hostile!.down && hostileHas(world, ref.treeHash);
      });
    },
    async origin(_registry, hash) {
      await yieldNow();
      if (world.originDown) return { kind: "unavailable", error: "origin timed out" };
      return world.snapshots.includes(hash) ? { kind: "known" } : { kind: "unknown", status: 404 };
    },
    async history() {
      await yieldNow();
      return historyIn(world);
    },
    async contentOrder(published, candidate) {
      await yieldNow();
      return contentOrderIn(world, published.treeHash, candidate.treeHash);
    },
    async store(ref) {
      await yieldNow();
      // A fill succeeds from any answering upstream that has the tarball; a hostile upstream serves
      // self-consistent tarballs for its own snapshots, which verify.
      const served =
        world.honest.some((u) => !u.down && honestHas(world, u, ref.treeHash)) ||
        (world.hostile && !world.hostile.down && hostileHas(world, ref.treeHash));
      if (!served) {
        world.unstorableAt.set(ref.treeHash, world.clock);
        return "no upstream has it";
      }
      world.committed.add(ref.treeHash);
      return null;
    },
  };
}

/** GitHub's page: the newest commits only (small here, so that old snapshots fall out of it). */
const HISTORY_PAGE = 30;

async function historyIn(world: World): Promise<HistoryRead> {
  switch (world.history) {
    case "down":
      return { kind: "unavailable", error: "origin answered 503" };
    case "rate-limited":
      return { kind: "unavailable", error: "origin answered 403 (rate limited)", retryAt: world.clock + 90_000 };
    case "429":
      return { kind: "unavailable", error: "origin answered 429 (rate limited)", retryAt: world.clock + 30_000 };
    case "slow":
      await new Promise((r) => setTimeout(r, 1 + Math.floor(world.random() * 6)));
  }
  return { kind: "read", trees: world.snapshots.slice(-HISTORY_PAGE).reverse() };
}

/**
 * Content order as a faithful comparison answers it: a real snapshot only adds to the ones before
 * it, but some advances also remove something (unproven); a snapshot of the hostile upstream's own
 * is unproven against anything. Fixed per pair, as real content is.
 */
function contentOrderIn(world: World, published: string, candidate: string): ContentOrder {
  const i = world.snapshots.indexOf(published);
  const j = world.snapshots.indexOf(candidate);
  if (i < 0 || j < 0) return "unproven";
  if (i === j) return "same";
  if ((i + j) % 3 === 0) return "unproven";
  return j > i ? "newer" : "older";
}

/** One round of the world changing: new snapshots, syncing, lagging lists, rollbacks, outages, a hostile move. */
function evolve(world: World): void {
  const r = world.random;
  if (r() < 0.35) world.snapshots.push(hashFrom(r));
  const newest = world.snapshots.length;
  world.originDown = r() < 0.25;
  const h = r();
  world.history = h < 0.6 ? "ok" : h < 0.75 ? "slow" : h < 0.83 ? "rate-limited" : h < 0.9 ? "429" : "down";
  for (const u of world.honest) {
    u.down = r() < 0.1;
    if (r() < 0.5) u.stored = Math.min(newest, u.stored + 1 + Math.floor(r() * 2)); // syncs in order
    const roll = r();
    if (roll < 0.7)
      u.lists = u.stored - 1; // lists its newest
    else if (roll < 0.85)
      u.lists = Math.max(0, u.stored - 2); // lags in what it lists
    else if (roll < 0.9) u.lists = Math.floor(r() * u.stored); // rolls back
  }
  if (world.hostile) {
    const x = world.hostile;
    x.down = r() < 0.2;
    const roll = r();
    if (roll < 0.4) {
      const fake = hashFrom(r);
      x.fakes.add(fake);
      x.lists = fake; // a snapshot of its own: names packages it would serve
    } else if (roll < 0.7) {
      x.lists = world.snapshots[Math.floor(r() * world.snapshots.length)]!; // any real one, old or new
    } else {
      x.lists = world.snapshots[Math.max(0, ...world.honest.map((u) => u.lists))]!;
    }
  }
}

function newWorld(random: () => number, hostile: boolean): World {
  const world: World = {
    random,
    snapshots: [hashFrom(random)],
    originDown: false,
    history: "ok",
    clock: Date.parse("2026-01-01T00:00:00Z"),
    honest: ["A", "B"].map((name) => ({ name, stored: 1, lists: 0, down: false })),
    hostile: hostile ? { name: "X", lists: "", down: false, fakes: new Set() } : null,
    committed: new Set(),
    unstorableAt: new Map(),
  };
  if (world.hostile) world.hostile.lists = world.snapshots[0]!;
  return world;
}

/** Whether the world's newest snapshot is what every answering upstream (at least two) lists, with no hostile one answering. */
function everyoneListsNewest(world: World): boolean {
  const newest = world.snapshots[world.snapshots.length - 1]!;
  const answering = world.honest.filter((u) => !u.down);
  return answering.length >= 2 && answering.every((u) => world.snapshots[u.lists] === newest) && (!world.hostile || world.hostile.down);
}

/** What the answering upstreams offer for the registry this round, holders completed as the refresh's cross-check completes them. */
function offeredIn(world: World, published: string | undefined): Observation | undefined {
  const lists = new Map<string, RegistryRef[]>();
  for (const u of world.honest) if (!u.down) lists.set(u.name, [{ uuid: UUID, treeHash: world.snapshots[u.lists]! }]);
  const x = world.hostile;
  if (x && !x.down) lists.set(x.name, [{ uuid: UUID, treeHash: x.lists }]);
  const offered = observe(lists, world.honest.length + (x ? 1 : 0)).get(UUID);
  if (!offered) return undefined;
  if (published !== undefined && !offered.hashes.has(published)) offered.hashes.set(published, { listers: new Set(), holders: new Set() });
  for (const [hash, support] of offered.hashes) {
    for (const name of offered.responders) {
      const h = world.honest.find((u) => u.name === name);
      if (h ? honestHas(world, h, hash) : hostileHas(world, hash)) support.holders.add(name);
    }
  }
  return offered;
}

/** A candidate's checks as the world answers them: its origin (a quorum when the origin is down), a fill, its content order when asked. */
function verdictIn(world: World, offered: Observation, published: string | undefined, hash: string, compare: boolean): Verdict {
  const trusted = world.originDown ? quorumHolds(offered, hash) : world.snapshots.includes(hash);
  if (!trusted) return { ok: false, reason: "untrusted", filled: false };
  const served = [...offered.responders].some((name) => {
    const h = world.honest.find((u) => u.name === name);
    return h ? honestHas(world, h, hash) : hostileHas(world, hash);
  });
  if (!served) return { ok: false, reason: "no upstream has it", filled: true };
  const by = world.originDown ? "quorum" : "origin";
  return compare && published !== undefined ? { ok: true, by, content: contentOrderIn(world, published, hash) } : { ok: true, by };
}

/** What the history says in the world this round, as the decision is given it. */
function historyOrderIn(world: World): HistoryOrder {
  if (!readable(world.history)) return { positions: new Map(), gap: `the history could not be read (${world.history})` };
  const trees = [...world.snapshots].reverse();
  return { positions: new Map(trees.map((h, i) => [h, i])), gap: "not in the registry's history", readable: true };
}

/** The published snapshot's position in the origin's history (its index in commit order): must never decrease. */
function positionIn(world: World, hash: string, where: string): number {
  const at = world.snapshots.indexOf(hash);
  expect(at, `${where}: published ${hash}, which its origin does not know`).toBeGreaterThanOrEqual(0);
  return at;
}

const readable = (mode: HistoryMode) => mode === "ok" || mode === "slow";

/**
 * Whether the history could be read throughout this round and the one before (a rate limit's
 * reset, at most 90 s away, has then passed): per round, whether every mode it went through was readable.
 */
function historyReadable(rounds: boolean[]): boolean {
  return rounds.length >= 2 && rounds.slice(-2).every(Boolean);
}

/**
 * The per-registry decision itself, driven directly in the same world, many more rounds: the test
 * answers the checks the decision asks for, and keeps the bookkeeping the refresh keeps between
 * rounds (what was replaced).
 */
function decideInWorld(seed: number, rounds: number, hostile: boolean): void {
  const random = rng(seed);
  const world = newWorld(random, hostile);
  let published: string | undefined;
  let position = -1;
  const superseded = new Set<string>();

  for (let round = 0; round < rounds; round++) {
    const where = `seed ${seed}, round ${round}`;
    evolve(world);
    const offered = offeredIn(world, published);
    if (!offered) continue;
    const known: Known = { published, superseded };
    const history = historyOrderIn(world);
    const verdicts = new Map<string, Verdict>();
    let step = decide(offered, known, history, verdicts);
    while (step.kind === "check") {
      expect(verdicts.has(step.hash), `${where}: asked twice about ${step.hash}`).toBe(false);
      verdicts.set(step.hash, verdictIn(world, offered, step.against ?? published, step.hash, step.compare));
      step = decide(offered, known, history, verdicts);
    }
    const choice = step;
    expect(decide(offered, known, history, verdicts), `${where}: the same inputs, the same decision`).toEqual(choice);
    expect(verdicts.size, `${where}: candidates checked`).toBeLessThanOrEqual(MAX_CANDIDATES_PER_ROUND);
    const fills = [...verdicts.values()].filter((v) => v.ok || v.filled).length;
    expect(fills, `${where}: fills started`).toBeLessThanOrEqual(MAX_FILLS_PER_ROUND);

    if (choice.hash !== published) {
      const hash = choice.hash!;
      expect(verdicts.get(hash)?.ok, `${where}: chose ${hash} without its checks passing`).toBe(true);
      const at = positionIn(world, hash, where);
      expect(at, `${where}: went back from position ${position} to ${at} (proof: ${choice.proof})`).toBeGreaterThan(position);
      if (published !== undefined) superseded.add(published);
      published = hash;
      position = at;
    }

    // A proven advance is followed in the same round: every answering upstream lists the newest snapshot and the history can be read.
    const newest = world.snapshots[world.snapshots.length - 1]!;
    if (everyoneListsNewest(world) && historyOrderIn(world).positions.size > 0)
      expect(published, `${where}: every answering upstream lists ${newest}, the history orders it`).toBe(newest);
  }
}

async function simulate(seed: number, rounds: number, options: { hostile: boolean; concurrent: boolean }): Promise<void> {
  const random = rng(seed);
  const world = newWorld(random, options.hostile);
  // The real bucket, watched: every list it accepts is checked, not only the one left after a round.
  const real = bucket();
  const accepted: string[] = [];
  const store: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
    async putSmall(key: string, body: string, options: Parameters<ObjectStore["putSmall"]>[2]) {
      const written = await real.putSmall(key, body, options);
      if (written && key === `registries.${FLAVOR}`) accepted.push(parseRegistryList(body)[0]?.treeHash ?? "");
      return written;
    },
  });
  const config = {
    registries: [{ uuid: UUID, originTemplate: "https://origin.invalid/{hash}", historyUrl: "https://origin.invalid/commits" }],
  };
  const memory = new RefreshMemory(() => world.clock);
  let position = -1;
  const readableRounds: boolean[] = [];
  const now = () => world.clock;

  for (let round = 0; round < rounds; round++) {
    const where = `seed ${seed}, round ${round}`;
    evolve(world);
    world.clock += 60_000; // a cron period per round
    let readableRound = readable(world.history);
    const sources = sourcesFor(world);
    const refreshes = options.concurrent ? 1 + Math.floor(random() * 3) : 1;
    const runs: Promise<unknown>[] = [];
    let movedMidRound = false;
    for (let k = 0; k < refreshes; k++) {
      runs.push(refreshFlavor(store, sources, config, FLAVOR, memory, now));
      if (k < refreshes - 1 && random() < 0.5) {
        // The world moves on while the first refresh is still at work.
        await new Promise((r) => setTimeout(r, 1 + Math.floor(random() * 8)));
        evolve(world);
        readableRound &&= readable(world.history);
        movedMidRound = true;
      }
    }
    await Promise.all(runs);
    readableRounds.push(readableRound);

    const obj = await store.get(`registries.${FLAVOR}`);
    const lines = obj ? parseRegistryList(await new Response(obj.body).text()) : [];
    expect(
      lines.every((l) => l.uuid === UUID),
      `${where}: only allowed registries are published`,
    ).toBe(true);
    const current = lines[0]?.treeHash;
    for (const hash of accepted.splice(0)) {
      const at = positionIn(world, hash, where);
      expect(world.committed.has(hash), `${where}: published ${hash} without storing it`).toBe(true);
      expect(at, `${where}: the published snapshot went back from position ${position} to ${at}`).toBeGreaterThanOrEqual(position);
      position = at;
    }
    if (current === undefined) continue;

    // Liveness: once every answering upstream (at least two) lists the newest snapshot, no hostile
    // upstream answers, and the history can be read, it is published in that very round (unless
    // its fill failed in the last ten minutes, when no upstream had it yet: it is not retried sooner).
    const newest = world.snapshots[world.snapshots.length - 1]!;
    const failedLately = world.clock - (world.unstorableAt.get(newest) ?? -Infinity) < 600_000;
    if (everyoneListsNewest(world) && !movedMidRound && historyReadable(readableRounds) && !failedLately && current !== newest) {
      const state = await store.get(`_pkgedge/registries.${FLAVOR}.json`);
      const why = state ? JSON.stringify(JSON.parse(await new Response(state.body).text()).registries?.[UUID]) : "no state";
      expect(current, `${where}: every answering upstream lists ${newest}, the history orders it; the round said ${why}`).toBe(newest);
    }
  }
}

const only = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.PKGEDGE_PROPERTY_SEED ?? NaN);
// The local S3 server ignores If-Match, so concurrent refreshes are only meaningful on R2 (as for
// the other compare-and-swap tests); on S3 the rounds run one refresh at a time, and fewer of them.
// Four worlds of each kind per run keep npm test within its four minutes; PKGEDGE_PROPERTY_SEED=N
// runs any other (a loop over N explores more).
const seeds = Number.isNaN(only) ? (backend === "s3" ? [1, 2] : [1, 2, 3, 4]) : [only];
const rounds = backend === "s3" ? 120 : 200;

describe("the registry refresh in a simulated world", () => {
  // Thousands of rounds of designed refusals: keep their log lines out of the test output.
  beforeEach(() => {
    for (const level of ["log", "warn", "error"] as const) vi.spyOn(console, level).mockImplementation(() => {});
    return () => vi.restoreAllMocks();
  });

  it.each(seeds)(
    "seed %i: honest upstreams that lag, roll back and fail; a history that is slow, rate-limited or down",
    async (seed) => {
      await simulate(seed, rounds, { hostile: false, concurrent: backend !== "s3" });
    },
    120_000,
  );

  it.each(seeds)(
    "seed %i: with a hostile upstream beside them",
    async (seed) => {
      await simulate(1000 + seed, rounds, { hostile: true, concurrent: backend !== "s3" });
    },
    120_000,
  );
});

describe("the per-registry decision in a simulated world, driven directly", () => {
  const directSeeds = Number.isNaN(only) ? Array.from({ length: 20 }, (_, i) => i + 1) : [only];

  it.each(directSeeds)("seed %i: honest upstreams that lag, roll back and fail; a history that is slow, rate-limited or down", (seed) => {
    decideInWorld(seed, 1000, false);
  });

  it.each(directSeeds)("seed %i: with a hostile upstream beside them", (seed) => {
    decideInWorld(1000 + seed, 1000, true);
  });
});
