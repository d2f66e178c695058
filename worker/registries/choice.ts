/**
 * The per-registry choice: given what pkgedge knows (the published hash and its history) and what
 * the upstreams offer this round, which snapshot to publish. A plain function with no fetch and no
 * bucket: a candidate's checks (its origin or a quorum, a verified fill, the prefetch gate) are
 * made by the caller, one candidate at a time when the choice asks for them, and passed back in as
 * verdicts, so a round costs only the checks the choice really needs. The order itself is order.ts.
 */

import { olderThan, rankCandidates, type Observation, type Refusal } from "./order";

/** Per registry and round: candidates examined, and registry tarballs filled, at most. */
export const MAX_CANDIDATES_PER_ROUND = 5;
export const MAX_FILLS_PER_ROUND = 2;
/**
 * How long every upstream must have moved on to a tied hash before it replaces the published one,
 * when several are configured: less than a cron period, so such a move lands on the next round.
 */
const MOVED_ON_DWELL_MS = 45_000;

/** What pkgedge knows about one registry before the round. */
export interface Known {
  /** The hash published now, if any. */
  published: string | undefined;
  /** Hashes pkgedge published and replaced: never again. */
  superseded: ReadonlySet<string>;
  /** Hashes known to be older than one adopted earlier. */
  passed: ReadonlySet<string>;
  /** The hash every upstream had moved on to in earlier rounds, and since when (ISO time). */
  movedOn: { hash: string; since: string } | null | undefined;
  /** The round's time (ms). */
  now: number;
}

/** A checked candidate: taken (and how its trust was established), or why not. */
export type Verdict =
  | { taken: true; by: "origin" | "quorum" }
  /** `filled`: its tarball was fetched (or tried), which counts against the round's fills. */
  | { taken: false; reason: string; filled: boolean };

export interface Choice {
  kind: "chosen";
  /** What to publish for the registry: the hash taken, else the published one (undefined: none). */
  hash: string | undefined;
  /** Set when a new hash was taken. */
  confirmedBy?: "origin" | "quorum";
  /** Listed hashes not taken, and why, in the order they were considered. */
  refused: { hash: string; reason: string }[];
  /** The round stopped at a cap (and how many candidates were left), or null. */
  capped: string | null;
  left: number;
  /** The hash every upstream moves on to now, and since when (null: none). */
  movedOn: { hash: string; since: string } | null;
  /** Hashes the taken one shows to be older (never taken later on the upstreams moving on). */
  passed: string[];
  /** What the upstreams list points behind the published hash (a rollback upstream), and what was refused for order. */
  backwards: boolean;
  orderRefused: Refusal[];
}

/** The next candidate to check, or the choice once no more checks are needed. */
export type Step = { kind: "check"; hash: string } | Choice;

export function chooseSnapshot(offered: Observation, known: Known, verdicts: ReadonlyMap<string, Verdict>): Step {
  const ranking = rankCandidates(offered, known.published, known.superseded, known.passed);
  const refused = ranking.refused.map((r) => ({ hash: r.hash, reason: r.reason as string }));
  // A move only "every upstream moved on" supports must hold across rounds: upstreams that all lag
  // in what they list for a round look the same as upstreams that all advanced.
  const movedOnNow = ranking.candidates.find((h) => ranking.movedOn.has(h));
  const pending = known.movedOn;
  const movedOn = movedOnNow
    ? { hash: movedOnNow, since: pending?.hash === movedOnNow ? pending.since : new Date(known.now).toISOString() }
    : null;
  // (With one upstream configured there is nobody else to wait for: it decides, as configured.)
  const held = (hash: string) =>
    offered.configured < 2 || (pending?.hash === hash && known.now - Date.parse(pending.since) >= MOVED_ON_DWELL_MS);

  let fills = 0;
  let capped: string | null = null;
  let left = 0;
  let taken: { hash: string; by: "origin" | "quorum" } | undefined;
  for (const [i, hash] of ranking.candidates.entries()) {
    if (i >= MAX_CANDIDATES_PER_ROUND || fills >= MAX_FILLS_PER_ROUND) {
      capped = i >= MAX_CANDIDATES_PER_ROUND ? `tried ${MAX_CANDIDATES_PER_ROUND} candidates` : `started ${MAX_FILLS_PER_ROUND} fills`;
      left = ranking.candidates.length - i;
      break;
    }
    if (ranking.movedOn.has(hash) && !held(hash)) {
      refused.push({ hash, reason: `every upstream moved on to it; waiting ${MOVED_ON_DWELL_MS / 1000} s for that to hold` });
      continue;
    }
    const verdict = verdicts.get(hash);
    if (!verdict) return { kind: "check", hash };
    if (verdict.taken) {
      taken = { hash, by: verdict.by };
      break;
    }
    if (verdict.filled) fills++;
    refused.push({ hash, reason: verdict.reason });
  }
  return {
    kind: "chosen",
    hash: taken?.hash ?? known.published,
    ...(taken ? { confirmedBy: taken.by } : {}),
    refused,
    capped,
    left,
    movedOn,
    passed: taken ? olderThan(offered, taken.hash) : [],
    backwards: ranking.backwards,
    orderRefused: ranking.refused,
  };
}
