/**
 * Where registry lists and their bookkeeping live in the bucket. The lists sit at the protocol's
 * own keys (`registries.eager`), so the bucket stays a valid static storage server; bookkeeping
 * sits under `_pkgedge/`, which no Pkg client ever asks for.
 *
 * Both are written with compare-and-swap on the object's etag, so refreshes running at once in
 * different isolates (the cron trigger, requests) can never overwrite each other's newer work:
 * a list write based on a stale read fails and is recomputed, and state writes merge.
 */

import type { Flavor } from "../routes/flavor";
import type { ObjectStore } from "../store/store";

export interface FlavorState {
  publishedAt?: string;
  lastCheckAt?: string;
  lastAttemptAt?: string;
  lastError?: string | null;
  /** Per registry UUID: hashes pkgedge published and later replaced, oldest first. Never published again. */
  superseded?: Record<string, string[]>;
}

/** Enough for months of General's updates; an upstream rolling back further than this is not a real risk. */
const MAX_SUPERSEDED = 5000;

export function listKey(flavor: Flavor): string {
  return `registries.${flavor}`;
}

function stateKey(flavor: Flavor): string {
  return `_pkgedge/registries.${flavor}.json`;
}

async function readJson(store: ObjectStore, key: string): Promise<{ state: FlavorState; etag: string | null }> {
  const obj = await store.get(key);
  if (!obj) return { state: {}, etag: null };
  try {
    return { state: JSON.parse(await new Response(obj.body).text()) as FlavorState, etag: obj.etag };
  } catch {
    return { state: {}, etag: obj.etag };
  }
}

export async function readState(store: ObjectStore, flavor: Flavor): Promise<FlavorState | null> {
  const { state, etag } = await readJson(store, stateKey(flavor));
  return etag === null ? null : state;
}

/** Timestamps keep the later value; superseded hashes are a union (so concurrent writers lose nothing). */
function merge(stored: FlavorState, update: FlavorState): FlavorState {
  const later = (a?: string, b?: string) => (a === undefined ? b : b === undefined ? a : a > b ? a : b);
  const superseded: Record<string, string[]> = { ...(stored.superseded ?? {}) };
  for (const [uuid, hashes] of Object.entries(update.superseded ?? {})) {
    const all = [...(superseded[uuid] ?? [])];
    for (const h of hashes) if (!all.includes(h)) all.push(h);
    superseded[uuid] = all.slice(-MAX_SUPERSEDED);
  }
  const attempt = later(stored.lastAttemptAt, update.lastAttemptAt);
  // The error belongs to the latest attempt.
  const lastError = attempt === update.lastAttemptAt ? update.lastError : stored.lastError;
  return {
    publishedAt: later(stored.publishedAt, update.publishedAt),
    lastCheckAt: later(stored.lastCheckAt, update.lastCheckAt),
    lastAttemptAt: attempt,
    lastError: lastError ?? null,
    superseded,
  };
}

/** Merges `update` into the stored state with compare-and-swap, retrying on conflict. */
export async function updateState(store: ObjectStore, flavor: Flavor, update: FlavorState): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { state, etag } = await readJson(store, stateKey(flavor));
    const written = await store.putSmall(stateKey(flavor), JSON.stringify(merge(state, update)), {
      contentType: "application/json",
      onlyIfEtag: etag,
    });
    if (written) return;
  }
  throw new Error(`could not update ${stateKey(flavor)}: too many concurrent writers`);
}
