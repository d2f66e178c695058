/**
 * Which advertised registry snapshot is newest (spec §5.1 steps 1–3). Upstream storage servers
 * keep every snapshot they ever served, so a hash that fewer upstreams know is newer: if A knows
 * B's hash but B does not know A's, A's is newer.
 */

import type { RegistryRef } from "../routes/grammar";

/** For one registry UUID: each advertised hash and the upstreams known to have it. */
export type Sightings = Map<string, Set<string>>;

/** Collects per-UUID sightings from the lists each upstream advertised. */
export function collectSightings(lists: ReadonlyMap<string, readonly RegistryRef[]>): Map<string, Sightings> {
  const byUuid = new Map<string, Sightings>();
  for (const [upstream, refs] of lists) {
    for (const ref of refs) {
      let hashes = byUuid.get(ref.uuid);
      if (!hashes) byUuid.set(ref.uuid, (hashes = new Map()));
      let seen = hashes.get(ref.treeHash);
      if (!seen) hashes.set(ref.treeHash, (seen = new Set()));
      seen.add(upstream);
    }
  }
  return byUuid;
}

/**
 * Candidates newest first: ascending by how many upstreams know the hash. Ties keep the order in
 * which the hashes were first advertised, so the outcome does not depend on map internals.
 */
export function newestFirst(sightings: Sightings): string[] {
  return [...sightings.entries()]
    .map(([hash, seen], index) => ({ hash, count: seen.size, index }))
    .sort((a, b) => a.count - b.count || a.index - b.index)
    .map((c) => c.hash);
}

export interface Choice {
  /** Hashes to try, newest first, ending at the published one: none pkgedge already moved past. */
  candidates: string[];
  /** The upstreams' newest advertised hash is older than what pkgedge publishes (a rollback). */
  consensusBackwards: boolean;
}

/**
 * The monotonic guard (spec §5.2, C49). `sightings` includes the published hash when any upstream
 * still has it (added after the advertised ones, so that on a tie the advertised hash counts as
 * newer). Walking newest first, the published hash ends the walk: nothing after it is newer. A
 * hash pkgedge published and then replaced is never chosen again, whatever the upstreams say.
 */
export function chooseCandidates(
  sightings: Sightings,
  published: string | undefined,
  superseded: ReadonlySet<string>,
  advertised: ReadonlySet<string>,
): Choice {
  const ordered = newestFirst(sightings);
  const candidates: string[] = [];
  for (const hash of ordered) {
    if (superseded.has(hash)) continue;
    candidates.push(hash);
    if (hash === published) break;
  }
  const newestAdvertised = ordered.findIndex((h) => advertised.has(h));
  const publishedAt = published === undefined ? -1 : ordered.indexOf(published);
  const consensusBackwards =
    newestAdvertised >= 0 && (superseded.has(ordered[newestAdvertised]!) || (publishedAt >= 0 && publishedAt < newestAdvertised));
  return { candidates, consensusBackwards };
}
