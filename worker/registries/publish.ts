/**
 * Publishing a flavor's new registry list: record what it replaces, write it with compare-and-swap
 * against the list the round read, and tell prefetching what each new snapshot adds.
 */

import { FLAVORS, type Flavor } from "../protocol/flavors";
import { REGISTRY_LIST_CONTENT_TYPE } from "../protocol/media";
import { parseRegistryList, registryPath } from "../protocol/paths";
import type { ObjectStore } from "../store/store";
import type { RegistrySources } from "./sources";
import { listKey, updateState, type FlavorState } from "./state";
import { log } from "../log";

/**
 * The registry's snapshot another flavor publishes, when this flavor has none yet: what a new
 * snapshot is compared with for prefetching, so the first flavor to publish it (eager, usually)
 * does not take it for the registry's very first one.
 */
export async function publishedElsewhere(store: ObjectStore, flavor: Flavor, uuid: string, hash: string): Promise<string | null> {
  for (const other of FLAVORS) {
    if (other === flavor) continue;
    const list = await store.get(listKey(other));
    if (!list) continue;
    const ref = parseRegistryList(await new Response(list.body).text()).find((r) => r.uuid === uuid);
    if (ref && ref.treeHash !== hash) return ref.treeHash;
  }
  return null;
}

export interface Publication {
  flavor: Flavor;
  /** Per registry UUID: the hash the list the round read publishes, and the one chosen now. */
  published: ReadonlyMap<string, string>;
  chosen: ReadonlyMap<string, string>;
  /** The new list, and the ETag of the list it replaces (null: there was none). */
  body: string;
  replacesEtag: string | null;
  /** The round's bookkeeping (its reports get their publishedAt here). */
  update: FlavorState;
  now: number;
}

/** Publishes the list: false when another refresh published since it was read (decide again from that list). */
export async function publish(store: ObjectStore, sources: RegistrySources, p: Publication): Promise<boolean> {
  const { flavor, published, chosen, update } = p;
  // Bookkeeping first: what this list replaces is recorded before the list changes, so a write
  // that fails after publishing cannot lose it. (Recording a hash that then stays published is
  // harmless: the published hash is never filtered, and once replaced it was meant to be.)
  const replaced = [...published].filter(([uuid, hash]) => chosen.get(uuid) !== hash);
  const superseded: Record<string, string[]> = {};
  for (const [uuid, hash] of replaced) superseded[uuid] = [...(superseded[uuid] ?? []), hash];
  await updateState(store, flavor, { superseded, confirmed: update.confirmed });
  // Compare-and-swap: if another refresh published since we read the list, decide again from its list.
  const written = await store.putSmall(listKey(flavor), p.body, {
    contentType: REGISTRY_LIST_CONTENT_TYPE,
    onlyIfEtag: p.replacesEtag,
  });
  if (!written) return false;
  const at = new Date(p.now).toISOString();
  for (const [uuid, report] of Object.entries(update.registries!)) if (chosen.get(uuid) !== published.get(uuid)) report.publishedAt = at;
  log("info", "registry_published", {
    flavor,
    lines: p.body.trimEnd().split("\n"),
    replaced: replaced.map(([uuid, treeHash]) => registryPath({ uuid, treeHash })),
  });
  for (const [uuid, treeHash] of chosen) {
    if (published.get(uuid) === treeHash || !sources.published) continue;
    // Prefetching is a courtesy to the next clients: it never holds back or fails a publish.
    await sources
      .published({ uuid, treeHash }, published.get(uuid) ?? (await publishedElsewhere(store, flavor, uuid, treeHash)))
      .catch((err) => log("warn", "prefetch_plan_failed", { uuid, hash: treeHash, error: String(err) }));
  }
  return true;
}
