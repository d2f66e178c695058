/**
 * What the upstreams said about a registry this round (protocol.md §5.1 steps 1–3): who lists which
 * snapshot, and who holds it (for the quorum that stands in for an origin that cannot be asked).
 * Plain functions: no fetch, no bucket. Which snapshot is newer is not inferred from these: it is
 * proven by the registry's history or by content (choice.ts).
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

/**
 * Collects, per registry UUID, who lists which hash (holders are completed by the cross-check).
 * An upstream speaks once per registry: lines after its first for the same UUID are ignored, so
 * one upstream listing many hashes cannot fill a round's candidates and crowd out a real advance.
 */
export function observe(lists: ReadonlyMap<string, readonly RegistryRef[]>, configured: number): Map<string, Observation> {
  const byUuid = new Map<string, Observation>();
  const responders = new Set(lists.keys());
  for (const [upstream, refs] of lists) {
    const spoken = new Set<string>();
    for (const ref of refs) {
      if (spoken.has(ref.uuid)) continue;
      spoken.add(ref.uuid);
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
