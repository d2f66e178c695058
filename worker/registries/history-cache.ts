/**
 * What pkgedge has learned of a registry's history, kept in the bucket beside the flavors'
 * bookkeeping (`_pkgedge/history.<uuid>.json`), so both flavors, the cron trigger and every isolate
 * share one read: the history is asked only when a listed snapshot is not in what was read, at most
 * once every MIN_READ_INTERVAL_MS, and never before a rate limit's reset. It is a cache: a copy that
 * cannot be read is read again from the origin, and a lost write costs one more read.
 */

import type { RegistryConfig } from "../config";
import type { ObjectStore } from "../store/store";
import type { RefreshMemory } from "./memory";
import type { RegistrySources } from "./sources";
import { MAX_PAUSE_MS, MIN_READ_INTERVAL_MS } from "./history";
import { log } from "../log";

export interface HistoryCache {
  /** The history URL the trees were read from: a copy read from another (REGISTRY_HISTORY changed) is not this registry's history. */
  source?: string;
  /** Tree hashes, newest first: the latest read, extended by earlier reads it overlaps. */
  trees: string[];
  /** The latest successful read, and the latest attempt (ISO times). */
  readAt?: string;
  attemptAt?: string;
  /** A rate limit: not asked before then (ISO time). */
  notBefore?: string;
  /** Reads that failed since the latest success, and the latest failure. */
  failures?: number;
  lastError?: string | null;
}

/** Enough for days of General's commits (about 40 bytes each). */
const MAX_TREES = 1000;

/** What the history says this round: each known hash's position (0: the newest commit), and why not more. */
export interface HistoryView {
  positions: ReadonlyMap<string, number>;
  /** Why a hash missing from `positions` is not ordered by the history (for the refusal's reason). */
  gap: string;
  /** The latest read succeeded (choice.ts: a hash it does not hold is then not proven newer). */
  readable: boolean;
  cache: HistoryCache;
}

/**
 * The newer read, extended by the older one below it. Where they overlap, the older commits below
 * the newer's last. Where they do not (more commits came since the older read than one page
 * holds), the whole older window still goes below: every commit in it is older than every commit
 * of the newer page, so no order across the gap is wrong, and the published snapshot keeps its
 * place. An empty read changes nothing, and neither does a stale one (a page whose newest commit
 * is below the top of what was kept, as a cached answer can be): it would drop newer commits, and
 * with them the published snapshot's place.
 */
export function mergeWindow(newer: readonly string[], older: readonly string[]): string[] {
  const k = newer.length === 0 ? -1 : older.indexOf(newer[0]!);
  // Stale: the page is a stretch of what was kept, starting below its top. (A revert's page also
  // starts with a tree that was kept, but the commits after it differ.)
  const stale = k > 0 && newer.every((tree, i) => k + i >= older.length || older[k + i] === tree);
  if (newer.length === 0 || stale) return [...older].slice(0, MAX_TREES);
  const at = older.indexOf(newer[newer.length - 1]!);
  return (at < 0 ? [...newer, ...older] : [...newer, ...older.slice(at + 1)]).slice(0, MAX_TREES);
}

/**
 * Whether to ask the history now: some hash is not in it, and neither the read interval nor a rate
 * limit forbids it. Times the cache cannot vouch for (not dates, an attempt in the future, a pause
 * past the longest one pkgedge takes) forbid nothing: the cache must never stop the history being read.
 */
export function readIsDue(cache: HistoryCache, missing: readonly string[], now: number): boolean {
  if (missing.length === 0) return false;
  const notBefore = Date.parse(cache.notBefore ?? "");
  if (notBefore > now && notBefore <= now + MAX_PAUSE_MS) return false;
  const attempted = Date.parse(cache.attemptAt ?? "");
  return !(attempted <= now && now - attempted < MIN_READ_INTERVAL_MS);
}

/**
 * Each tree hash's position, 0 the newest commit. A tree can appear more than once (a revert
 * restores an earlier commit's tree): its newest appearance is its position, so the commit it
 * was reverted from never counts as newer than the revert.
 */
export function positionsOf(trees: readonly string[]): Map<string, number> {
  const positions = new Map<string, number>();
  for (const [i, tree] of trees.entries()) if (!positions.has(tree)) positions.set(tree, i);
  return positions;
}

function cacheKey(uuid: string): string {
  return `_pkgedge/history.${uuid}.json`;
}

const TREE_HASH = /^[0-9a-f]{40}$/;

/**
 * The cached copy, if it was read from `source` and its trees are tree hashes; otherwise none (the
 * history is read again), so a changed REGISTRY_HISTORY never orders by the old one's window.
 */
async function readCache(store: ObjectStore, uuid: string, source: string): Promise<HistoryCache> {
  const obj = await store.get(cacheKey(uuid));
  if (!obj) return { trees: [] };
  try {
    const parsed = JSON.parse(await new Response(obj.body).text()) as HistoryCache;
    const trusted = parsed?.source === source && Array.isArray(parsed.trees) && parsed.trees.every((t) => TREE_HASH.test(String(t)));
    return trusted ? parsed : { trees: [] };
  } catch {
    return { trees: [] };
  }
}

/**
 * The registry's history as far as this round needs it: read again only when one of `hashes` is
 * not in the cache (and the history was not asked about it in the last ten minutes, in this isolate).
 */
export async function historyFor(
  store: ObjectStore,
  sources: RegistrySources,
  registry: RegistryConfig,
  hashes: readonly string[],
  memory: RefreshMemory,
  now: number,
): Promise<HistoryView> {
  if (!registry.historyUrl) return { positions: new Map(), gap: "no history configured", readable: false, cache: { trees: [] } };
  let cache = await readCache(store, registry.uuid, registry.historyUrl);
  const known = new Set(cache.trees);
  const missing = hashes.filter((h) => !known.has(h) && !memory.notInHistory(h));
  if (readIsDue(cache, missing, now)) {
    const at = new Date(now).toISOString();
    // One read for both flavors' refreshes in this isolate (the cron refreshes them at once).
    const read = await memory.historyRead(registry.uuid, () => sources.history({ ...registry, historyUrl: registry.historyUrl! }));
    // Another isolate may have written since this one read the cache: build on the latest copy, so
    // its newer trees and its rate limit are not lost to this write.
    const latest = await readCache(store, registry.uuid, registry.historyUrl);
    const pause = Date.parse(latest.notBefore ?? "") > now ? { notBefore: latest.notBefore } : {};
    if (read.kind === "read") {
      cache = {
        source: registry.historyUrl,
        trees: mergeWindow(read.trees, mergeWindow(latest.trees, cache.trees)),
        readAt: at,
        attemptAt: at,
        failures: 0,
        lastError: null,
        ...pause,
      };
      const inRead = new Set(cache.trees);
      for (const h of missing) if (!inRead.has(h)) memory.rememberNotInHistory(h);
      // One line per request to the history: what the deployment spends of its GitHub budget.
      log("info", "registry_history_read", { uuid: registry.uuid, commits: read.trees.length, kept: cache.trees.length });
    } else {
      cache = {
        ...cache,
        source: registry.historyUrl,
        attemptAt: at,
        failures: (cache.failures ?? 0) + 1,
        lastError: read.error,
        ...(read.retryAt !== undefined ? { notBefore: new Date(read.retryAt).toISOString() } : {}),
      };
      log("warn", "registry_history_unavailable", { uuid: registry.uuid, error: read.error, not_before: cache.notBefore ?? null });
    }
    await store
      .putSmall(cacheKey(registry.uuid), JSON.stringify(cache), { contentType: "application/json" })
      .catch((err) => log("warn", "registry_history_cache_write_failed", { uuid: registry.uuid, error: String(err) }));
  }
  const positions = positionsOf(cache.trees);
  const limited = cache.notBefore && Date.parse(cache.notBefore) > now ? ` (not asked again before ${cache.notBefore})` : "";
  const gap = cache.lastError
    ? `the history could not be read: ${cache.lastError}${limited}`
    : `not in the registry's history as read at ${cache.readAt ?? "never"}`;
  return { positions, gap, readable: cache.readAt !== undefined && !cache.lastError, cache };
}
