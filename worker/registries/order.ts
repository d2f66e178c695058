/**
 * Which registry snapshot may replace the published one (protocol.md §5.1 steps 1–3, made safe). Plain
 * functions over what the upstreams said this round: no fetch, no bucket.
 *
 * Storage servers keep every snapshot they ever served, so a hash held by fewer upstreams than the
 * published one is newer: somebody has the published snapshot but not this one (REF's rule). A hash
 * held by as many is a tie, and a tie never moves the list; nor does a hash held by more, which is
 * older. One exception: when no upstream that answered lists the published hash any more and every
 * one of them lists the same other hash, the upstreams have moved on, and that hash may replace it
 * (an upstream that skipped the published snapshot would otherwise hold the list back for good).
 * Never taken again: a hash pkgedge published and replaced (superseded), and a hash that was listed,
 * and held by more upstreams, when the published one was adopted (passed: known to be older).
 */

import type { RegistryRef } from "../protocol/paths";

/** For one hash: the upstreams that list it now, and those that have it (list it, or store it). */
interface Support {
  listers: Set<string>;
  holders: Set<string>;
}

/** What the upstreams said about one registry this round. */
export interface Observation {
  /** Upstreams whose lists could be read this round. */
  responders: ReadonlySet<string>;
  /** How many upstreams are configured. */
  configured: number;
  hashes: Map<string, Support>;
}

/** Collects, per registry UUID, who lists which hash (holders are completed by the cross-check). */
export function observe(lists: ReadonlyMap<string, readonly RegistryRef[]>, configured: number): Map<string, Observation> {
  const byUuid = new Map<string, Observation>();
  const responders = new Set(lists.keys());
  for (const [upstream, refs] of lists) {
    for (const ref of refs) {
      let obs = byUuid.get(ref.uuid);
      if (!obs) {
        obs = { responders, configured, hashes: new Map() };
        byUuid.set(ref.uuid, obs);
      }
      let support = obs.hashes.get(ref.treeHash);
      if (!support) {
        support = { listers: new Set(), holders: new Set() };
        obs.hashes.set(ref.treeHash, support);
      }
      support.listers.add(upstream);
      support.holders.add(upstream);
    }
  }
  return byUuid;
}

/**
 * Every upstream that answered has this hash, and they are enough to speak for the rest: at least
 * two when two or more are configured (one upstream alone never decides for several).
 */
export function quorumHolds(obs: Observation, hash: string): boolean {
  const support = obs.hashes.get(hash);
  if (!support) return false;
  const enough = obs.configured < 2 || obs.responders.size >= 2;
  return enough && [...obs.responders].every((u) => support.holders.has(u));
}

export type Refusal = { hash: string; reason: "superseded" | "older" | "tie" };

export interface Ranking {
  /** Hashes that would replace the published one, newest first (each still needs trust and storage). */
  candidates: string[];
  /** Of those, the ones only "every upstream moved on" supports: they must hold for a while first. */
  movedOn: Set<string>;
  /** Listed hashes that will not replace it, and why. */
  refused: Refusal[];
  /** What the upstreams list points behind the published hash (a rollback upstream). */
  backwards: boolean;
}

/** Newest first: held by the fewest upstreams, then listed by the most, then by hash (stable). */
function newestFirst(a: [string, Support], b: [string, Support]): number {
  return a[1].holders.size - b[1].holders.size || b[1].listers.size - a[1].listers.size || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

export function rankCandidates(
  obs: Observation,
  published: string | undefined,
  superseded: ReadonlySet<string>,
  passed: ReadonlySet<string> = new Set(),
): Ranking {
  const current = published === undefined ? undefined : obs.hashes.get(published);
  // A published hash no upstream that answered has says nothing about order.
  const pub = current && current.holders.size > 0 ? current : undefined;
  const movedOn = (support: Support) =>
    pub !== undefined && pub.listers.size === 0 && [...obs.responders].every((u) => support.listers.has(u));
  const candidates: string[] = [];
  const moved = new Set<string>();
  const refused: Refusal[] = [];
  for (const [hash, support] of [...obs.hashes].sort(newestFirst)) {
    if (hash === published || support.listers.size === 0) continue;
    if (superseded.has(hash)) refused.push({ hash, reason: "superseded" });
    else if (!pub || support.holders.size < pub.holders.size) candidates.push(hash);
    else if (!passed.has(hash) && movedOn(support)) {
      candidates.push(hash);
      moved.add(hash);
    } else refused.push({ hash, reason: support.holders.size > pub.holders.size || passed.has(hash) ? "older" : "tie" });
  }
  const listedBehind = refused.some((r) => r.reason !== "tie");
  return { candidates, movedOn: moved, refused, backwards: listedBehind && candidates.length === 0 && (pub?.listers.size ?? 0) === 0 };
}

/**
 * Hashes listed when `adopted` is adopted that as many or more upstreams hold: not newer, so never
 * taken later on the strength of the upstreams "moving on" to them (only on REF's evidence).
 */
export function olderThan(obs: Observation, adopted: string): string[] {
  const held = obs.hashes.get(adopted)?.holders.size ?? 0;
  return [...obs.hashes].filter(([hash, s]) => hash !== adopted && s.listers.size > 0 && s.holders.size >= held).map(([hash]) => hash);
}
