/**
 * Where registry lists and their bookkeeping live in the bucket. The lists sit at the protocol's
 * own keys (`registries.eager`), so the bucket stays a valid static storage server; bookkeeping
 * sits under `_pkgedge/`, which no Pkg client ever asks for.
 *
 * Both are written with compare-and-swap on the object's etag, so refreshes running at once in
 * different isolates (the cron trigger, requests) can never overwrite each other's newer work:
 * a list write based on a stale read fails and is recomputed, and state writes merge.
 */

import type { Flavor } from "../protocol/flavors";
import type { ObjectStore } from "../store/store";
import type { Proof } from "./choice";

/** What /meta says about one registry of a flavor, from the latest round that looked at it. */
export interface RegistryReport {
  hash?: string;
  publishedAt?: string;
  /** How the published hash was trusted: its origin confirmed it, or a quorum of upstreams had it. */
  confirmedBy?: "origin" | "quorum";
  /** How it was proven newer than the hash before it: by the registry's history, by content, or it was the first. */
  proof?: Proof;
  /** Its position in the registry's history as last read (0: the newest commit), null when not in it. */
  position?: number | null;
  /** When the history was last read, reads that failed since, and the latest failure. */
  historyReadAt?: string | null;
  historyFailures?: number;
  lastHistoryError?: string | null;
  /** Listed hashes the latest round did not take, and why. */
  refused?: { hash: string; reason: string }[];
  /** Origin checks that could not be made in the latest round, and the last reason. */
  originFailures?: number;
  lastOriginError?: string | null;
  /** The latest round stopped at a cap (candidates tried or fills started). */
  capped?: string | null;
}

export interface FlavorState {
  publishedAt?: string;
  lastCheckAt?: string;
  lastAttemptAt?: string;
  lastError?: string | null;
  /**
   * Per registry UUID: hashes pkgedge published and replaced (recorded just before the list changes),
   * oldest first. Never published again.
   */
  superseded?: Record<string, string[]>;
  /** Per registry UUID: hashes its origin confirmed (so it is asked once per hash). */
  confirmed?: Record<string, string[]>;
  registries?: Record<string, RegistryReport>;
  /** Registry UUIDs upstreams listed that are not in REGISTRIES, in the latest round (a few shown). */
  ignored?: { count: number; uuids: string[] };
}

/** Enough for months of General's updates; an upstream rolling back further than this is not a real risk. */
const MAX_SUPERSEDED = 5000;
const MAX_CONFIRMED = 500;

/** The bookkeeping object exists but cannot be read: publishing stops rather than forget the history. */
export class StateUnreadable extends Error {
  constructor(key: string, detail: string) {
    super(`${key} cannot be parsed (${detail}); publishing is stopped for this flavor until it is repaired or removed`);
    this.name = "StateUnreadable";
  }
}

export function listKey(flavor: Flavor): string {
  return `registries.${flavor}`;
}

function stateKey(flavor: Flavor): string {
  return `_pkgedge/registries.${flavor}.json`;
}

async function readJson(store: ObjectStore, key: string): Promise<{ state: FlavorState; etag: string | null }> {
  const obj = await store.get(key);
  if (!obj) return { state: {}, etag: null };
  const text = await new Response(obj.body).text();
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (err) {
    throw new StateUnreadable(key, err instanceof Error ? err.message : String(err));
  }
  if (typeof state !== "object" || state === null || Array.isArray(state)) throw new StateUnreadable(key, "not a JSON object");
  return { state: state as FlavorState, etag: obj.etag };
}

/** The flavor's bookkeeping, or null if there is none yet; throws StateUnreadable if it is damaged. */
export async function readState(store: ObjectStore, flavor: Flavor): Promise<FlavorState | null> {
  const { state, etag } = await readJson(store, stateKey(flavor));
  return etag === null ? null : state;
}

function union(
  stored: Record<string, string[]> | undefined,
  update: Record<string, string[]> | undefined,
  max: number,
): Record<string, string[]> {
  const out: Record<string, string[]> = { ...(stored ?? {}) };
  for (const [uuid, hashes] of Object.entries(update ?? {})) {
    const all = [...(out[uuid] ?? [])];
    for (const h of hashes) if (!all.includes(h)) all.push(h);
    out[uuid] = all.slice(-max);
  }
  return out;
}

/** Timestamps keep the later value; superseded hashes are a union (so concurrent writers lose nothing). */
function merge(stored: FlavorState, update: FlavorState): FlavorState {
  const later = (a?: string, b?: string) => (a === undefined ? b : b === undefined ? a : a > b ? a : b);
  const attempt = later(stored.lastAttemptAt, update.lastAttemptAt);
  // The error and the reports belong to the latest attempt.
  const latest = attempt === update.lastAttemptAt;
  const lastError = latest ? update.lastError : stored.lastError;
  return {
    publishedAt: later(stored.publishedAt, update.publishedAt),
    lastCheckAt: later(stored.lastCheckAt, update.lastCheckAt),
    lastAttemptAt: attempt,
    lastError: lastError ?? null,
    superseded: union(stored.superseded, update.superseded, MAX_SUPERSEDED),
    confirmed: union(stored.confirmed, update.confirmed, MAX_CONFIRMED),
    registries: latest
      ? { ...(stored.registries ?? {}), ...(update.registries ?? {}) }
      : { ...(update.registries ?? {}), ...(stored.registries ?? {}) },
    ignored: latest ? (update.ignored ?? stored.ignored) : (stored.ignored ?? update.ignored),
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
