/**
 * The per-registry decision: given the published hash, what the upstreams list this round and what
 * the registry's history says, which snapshot to publish, and why. The list moves only to a
 * snapshot proven newer than the published one: by the registry's history (an earlier position
 * among its commits), else by content (it adds versions and removes none). Nothing is inferred
 * from which upstreams hold what: observations of upstreams cannot tell an advance from a rollback.
 *
 * A plain function with no fetch and no bucket: a candidate's checks (its origin or a quorum, a
 * verified fill, the content comparison when the history cannot order it, the prefetch gate) are
 * made by the caller, one candidate at a time when the decision asks for them, and passed back in
 * as verdicts, so a round costs only the checks the decision really needs.
 */

import type { ContentOrder } from "./content-order";
import type { Observation } from "./order";

/** Per registry and round: candidates examined, and registry tarballs filled, at most. */
export const MAX_CANDIDATES_PER_ROUND = 5;
export const MAX_FILLS_PER_ROUND = 2;

/** How a published hash was shown not to go backwards: nothing was published before it (first). */
export type Proof = "history" | "content" | "first";

/** What pkgedge knows about one registry before the round. */
export interface Known {
  /** The hash published now, if any. */
  published: string | undefined;
  /** Hashes pkgedge published and replaced: never again. */
  superseded: ReadonlySet<string>;
}

/** What the registry's history says this round. */
export interface HistoryOrder {
  /** Each hash in the history read: its position, 0 the newest commit. */
  positions: ReadonlyMap<string, number>;
  /** Why a hash not in `positions` is not ordered (the history could not be read, or it is not in it). */
  gap: string;
  /**
   * The latest read of the history succeeded: it is the registry's word on what its recent
   * snapshots are. A listed hash it does not hold is then not proven newer by anything (content
   * cannot stand in: a tree on another branch or a fork can add versions the registry never had).
   */
  readable?: boolean;
}

/** A checked candidate: its checks passed (how it is trusted, and its content order when asked), or why not. */
export type Verdict =
  /** `recalled`: its content order came from memory (no fill this round). */
  | { ok: true; by: "origin" | "quorum"; content?: ContentOrder; recalled?: boolean }
  /**
   * `filled`: its tarball was fetched (or tried), which counts against the round's fills;
   * `recalled`: the answer came from memory at no cost, so it does not count against the candidates.
   */
  | { ok: false; reason: string; filled: boolean; recalled?: boolean };

interface Refusal {
  hash: string;
  reason: string;
}

export interface Choice {
  kind: "chosen";
  /** What to publish for the registry: the hash taken, else the published one (undefined: none). */
  hash: string | undefined;
  /** Set when a new hash was taken: how it is trusted, and how it is proven newer. */
  confirmedBy?: "origin" | "quorum";
  proof?: Proof;
  /** Listed hashes not taken, and why, in the order they were considered. */
  refused: Refusal[];
  /** The round stopped at a cap (and how many candidates were left), or null. */
  capped: string | null;
  left: number;
  /**
   * What the upstreams list points behind the published hash (a rollback upstream): a listed hash is
   * proven older, no answering upstream lists the published one, and nothing newer was taken.
   */
  backwards: boolean;
}

/**
 * The next candidate to check (`compare`: its content order against the published hash is needed
 * too, or against `against` when set), or the decision once no more checks are needed.
 */
export type Step = { kind: "check"; hash: string; compare: boolean; against?: string } | Choice;

const OLDER_BY_HISTORY = "older than the published snapshot in the registry's history";

const NOT_IN_READABLE_HISTORY =
  "unproven: not in the registry's history, which was read and holds its recent snapshots (a tree on another branch or a fork, or older than what was read)";

/**
 * Listed hashes that may replace the published one, in the order to try them, and those refused outright.
 * With a readable history: a hash it holds is newer when it is at an earlier position than the
 * published one, or when the published one is not in it (older than the window read, or not the
 * registry's); a hash it does not hold is refused, unless nothing is published yet. Without one,
 * content decides (decide below).
 */
function candidatesOf(offered: Observation, known: Known, history: HistoryOrder) {
  const { published } = known;
  const at = published === undefined ? undefined : history.positions.get(published);
  const proven: [string, number][] = [];
  const open: [string, number][] = [];
  const refused: Refusal[] = [];
  for (const [hash, support] of offered.hashes) {
    if (hash === published || support.listers.size === 0) continue;
    const position = history.positions.get(hash);
    // A tree pkgedge replaced is taken again only when the history shows the registry restored it (a revert).
    const restored = history.readable && at !== undefined && position !== undefined && position < at;
    if (known.superseded.has(hash) && !restored) refused.push({ hash, reason: "older: pkgedge published it and replaced it" });
    // A first snapshot has nothing to go backwards from: one the history lacks (upstreams that lag
    // behind the window read) may still be taken, after any it holds; the registry's next snapshot,
    // which the history holds, then replaces it.
    else if (history.readable && position === undefined && published !== undefined) refused.push({ hash, reason: NOT_IN_READABLE_HISTORY });
    else if (published === undefined) (position === undefined ? open : proven).push([hash, position ?? -support.listers.size]);
    else if (position !== undefined && (at !== undefined || history.readable))
      at === undefined || position < at ? proven.push([hash, position]) : refused.push({ hash, reason: OLDER_BY_HISTORY });
    else open.push([hash, -support.listers.size]);
  }
  // Newest first in the history; the others by how many upstreams list them, then by hash (never by UPSTREAM_SERVERS' order).
  const order = (a: [string, number], b: [string, number]) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return { proven: new Set(proven.map(([h]) => h)), ordered: [...proven.sort(order), ...open.sort(order)].map(([h]) => h), refused };
}

function contentRefusal(content: ContentOrder | undefined, gap: string): string {
  if (content === "older") return `older than the published snapshot by content (it removes versions and adds none); ${gap}`;
  if (content === "same") return `unproven: it lists the same versions as the published snapshot; ${gap}`;
  return `unproven: ${gap}, and its content neither only adds versions nor only removes them`;
}

export function decide(offered: Observation, known: Known, history: HistoryOrder, verdicts: ReadonlyMap<string, Verdict>): Step {
  const { proven, ordered, refused } = candidatesOf(offered, known, history);
  let backwards = refused.length > 0;
  let examined = 0;
  let fills = 0;
  let capped: string | null = null;
  let left = 0;
  let taken: { hash: string; by: "origin" | "quorum"; proof: Proof } | undefined;
  for (const [i, hash] of ordered.entries()) {
    if (examined >= MAX_CANDIDATES_PER_ROUND || fills >= MAX_FILLS_PER_ROUND) {
      capped =
        examined >= MAX_CANDIDATES_PER_ROUND ? `tried ${MAX_CANDIDATES_PER_ROUND} candidates` : `started ${MAX_FILLS_PER_ROUND} fills`;
      left = ordered.length - i;
      break;
    }
    // A first snapshot the history cannot order: a later candidate replaces it only if its content is newer.
    const provisional = known.published === undefined && taken !== undefined ? taken.hash : undefined;
    const compare = (known.published !== undefined || provisional !== undefined) && !proven.has(hash);
    const verdict = verdicts.get(hash);
    if (!verdict) return { kind: "check", hash, compare, ...(provisional !== undefined ? { against: provisional } : {}) };
    if (verdict.ok || !verdict.recalled) examined++;
    if (!verdict.ok) {
      if (verdict.filled) fills++;
      refused.push({ hash, reason: verdict.reason });
      continue;
    }
    if (verdict.content !== undefined && !verdict.recalled) fills++; // its tarball was stored to be compared
    if (provisional !== undefined) {
      if (verdict.content === "newer") taken = { hash, by: verdict.by, proof: "first" };
      else refused.push({ hash, reason: `not newer by content than ${provisional}, taken first` });
      continue;
    }
    if (known.published === undefined) {
      taken = { hash, by: verdict.by, proof: "first" };
      // Proven by the history: the newest is first in the order, nothing else to compare.
      if (proven.has(hash)) break;
      continue;
    }
    if (!compare) {
      taken = { hash, by: verdict.by, proof: "history" };
      break;
    }
    if (verdict.content === "newer") {
      taken = { hash, by: verdict.by, proof: "content" };
      break;
    }
    if (verdict.content === "older") backwards = true;
    refused.push({ hash, reason: contentRefusal(verdict.content, history.gap) });
  }
  return {
    kind: "chosen",
    hash: taken?.hash ?? known.published,
    ...(taken ? { confirmedBy: taken.by, proof: taken.proof } : {}),
    refused,
    capped,
    left,
    backwards: backwards && taken === undefined && (offered.hashes.get(known.published ?? "")?.listers.size ?? 0) === 0,
  };
}
