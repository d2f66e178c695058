/**
 * Operator endpoints: `/meta` (what this mirror is, where it fills from, how fresh its registries
 * are), PkgServer.jl's `/meta/parents`, `/meta/children`, `/meta/siblings` and `/meta/stats`, and
 * `/robots.txt`. `/meta` carries every field PkgServer.jl's has (its src/meta.jl); those that have
 * no meaning on Workers (the Julia version it runs on, its tasks, its RSS) are null.
 */

import { version } from "../../package.json";
import { FLAVORS } from "../protocol/flavors";
import { parseRegistryList, registryPath, type RegistryRef } from "../protocol/paths";
import { listKey, readState, StateUnreadable } from "../registries/state";
import type { Runtime } from "../runtime";
import { ANALYTICS_DATASET, HOURLY, queryRollup, sqlApiUrl } from "./rollups";
import { noOutcomes, type HourCounts } from "./counts";
import type { CacheOutcome } from "./access-log";

export const PKGEDGE_VERSION: string = version;

/** What /meta says about one flavor's published list. */
export interface FlavorReport {
  registries: { uuid: string; treeHash: string }[];
  published_at: string | null;
  last_check_at: string | null;
  last_attempt_at: string | null;
  last_error: string | null;
  state_error: string | null;
  by_registry: Record<
    string,
    {
      hash: string | null;
      published_at: string | null;
      confirmed_by: string | null;
      proof: string | null;
      position: number | null;
      refused: unknown[];
      history_read_at: string | null;
      history_failures: number;
      last_history_error: string | null;
      origin_failures: number;
      last_origin_error: string | null;
      capped: string | null;
    }
  >;
  ignored_registries: unknown;
}

/** Each flavor's list and refresh bookkeeping, as the bucket holds them (for /meta and the status page). */
export async function registriesReport(rt: Runtime): Promise<Record<string, FlavorReport>> {
  const registries: Record<string, FlavorReport> = {};
  await Promise.all(
    FLAVORS.map(async (flavor) => {
      let stateError: string | null = null;
      const [list, state] = await Promise.all([
        rt.store.get(listKey(flavor)),
        readState(rt.store, flavor).catch((err: unknown) => {
          if (!(err instanceof StateUnreadable)) throw err;
          stateError = err.message;
          return null;
        }),
      ]);
      registries[flavor] = {
        registries: list ? parseRegistryList(await new Response(list.body).text()) : [],
        published_at: state?.publishedAt ?? list?.uploaded.toISOString() ?? null,
        last_check_at: state?.lastCheckAt ?? null,
        last_attempt_at: state?.lastAttemptAt ?? null,
        last_error: stateError ?? state?.lastError ?? null,
        state_error: stateError,
        // Per registry: the published hash, when and how it was trusted and proven newer, its place in the history, what was refused and why.
        by_registry: Object.fromEntries(
          Object.entries(state?.registries ?? {}).map(([uuid, r]) => [
            uuid,
            {
              hash: r.hash ?? null,
              published_at: r.publishedAt ?? null,
              confirmed_by: r.confirmedBy ?? null,
              proof: r.proof ?? null,
              position: r.position ?? null,
              refused: r.refused ?? [],
              history_read_at: r.historyReadAt ?? null,
              history_failures: r.historyFailures ?? 0,
              last_history_error: r.lastHistoryError ?? null,
              origin_failures: r.originFailures ?? 0,
              last_origin_error: r.lastOriginError ?? null,
              capped: r.capped ?? null,
            },
          ]),
        ),
        ignored_registries: state?.ignored ?? { count: 0, uuids: [] },
      };
    }),
  );
  return registries;
}

/** What prefetching took from today's budget. */
async function spent(rt: Runtime): Promise<{ spent_today: number; spent_bytes_today: number }> {
  const day = rt.prefetch ? await rt.prefetch.spentToday() : { fills: 0, bytes: 0 };
  return { spent_today: day.fills, spent_bytes_today: day.bytes };
}

/** Prefetching's settings, and how far each published snapshot is prefilled (from its ledger). */
export async function prefetchReport(rt: Runtime, registries: Record<string, FlavorReport>): Promise<Record<string, unknown>> {
  const p = rt.config.prefetch;
  const refs = new Map<string, RegistryRef>();
  for (const report of Object.values(registries)) for (const ref of report.registries) refs.set(registryPath(ref), ref);
  return {
    mode: p.mode,
    off_because: p.offBecause,
    gate: p.gate,
    platforms: p.platforms,
    lazy: p.lazy,
    concurrency: p.concurrency,
    daily_budget: p.dailyBudget,
    daily_bytes: p.dailyBytes,
    max_artifacts_per_version: p.maxArtifactsPerVersion,
    max_artifacts_per_snapshot: p.maxArtifactsPerSnapshot,
    ...(await spent(rt)),
    snapshots: rt.prefetch
      ? await Promise.all([...refs].map(async ([path, ref]) => ({ registry: path, ...(await rt.prefetch!.progress(ref)) })))
      : [],
  };
}

export async function meta(rt: Runtime, request: Request): Promise<Response> {
  const registries = await registriesReport(rt);
  const prefetch = await prefetchReport(rt, registries);
  const url = new URL(request.url);
  const published = Object.values(registries)
    .map((r) => r.published_at)
    .filter((t): t is string => t !== null)
    .sort();
  const failing = Object.values(registries).some((r) => r.last_error !== null);
  return Response.json(
    {
      pkgedge_version: PKGEDGE_VERSION,
      run_id: rt.config.runId,
      pkgserver_version: `pkgedge-${PKGEDGE_VERSION}`,
      pkgserver_url: url.origin + rt.config.pathPrefix,
      // PkgServer.jl's fields, in its terms: the registry refresh runs from the cron trigger.
      julia_version: null,
      start_time: rt.startedAt.toISOString(),
      last_registry_update: published.at(-1) ?? null,
      registry_update_task: failing ? "failed" : "started",
      registry_watchdog_task: "started",
      maxrss: null,
      upstreams: rt.config.upstreams,
      allowed_registries: rt.config.registries.map((r) => ({ uuid: r.uuid, origin: r.originTemplate ?? null })),
      // The Julia binary buckets served under /mirror/<name>/, and how long a copy that can change is trusted.
      binary_mirrors: rt.config.binaryMirrors.map((m) => ({
        name: m.name,
        upstream: m.base,
        path: `${rt.config.pathPrefix}/mirror/${m.name}/`,
      })),
      binary_mirror_ttl_seconds: rt.config.binaryMirrorTtlSeconds,
      // zstd variants of tarballs, for clients whose Accept-Encoding names zstd (Julia 1.13+).
      zstd: {
        mode: rt.config.zstd.mode,
        level: rt.config.zstd.level,
        max_window_bytes: rt.config.zstd.maxWindowBytes,
        max_transcode_bytes: rt.config.zstd.maxTranscodeBytes,
      },
      // The latest upstream failures requests to this isolate ran into, each with its cause in words.
      // With AUTH=protocol this page is public: which paths failed would say what token holders asked for.
      upstream_failures:
        rt.config.auth.mode === "protocol" ? rt.upstreamFailures.map(({ at, detail }) => ({ at, detail })) : rt.upstreamFailures,
      isolate_started_at: rt.startedAt.toISOString(),
      registries,
      // What each published snapshot adds, and how much of it is in the bucket (PREFETCH).
      prefetch,
    },
    { headers: { "cache-control": "no-store" } },
  );
}

export function metaJson(value: unknown): Response {
  return Response.json(value, { headers: { "cache-control": "no-store" } });
}

/**
 * PkgServer.jl's `/meta/stats`, counted by this isolate since it started (a deployment runs many
 * isolates), with pkgedge's own breakdown beside it; and, when Analytics Engine is bound and
 * pkgedge may read it (ANALYTICS_ACCOUNT_ID, ANALYTICS_API_TOKEN), the whole deployment's last
 * 24 hours by outcome.
 */
export async function metaStats(rt: Runtime, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  const c = rt.counts;
  // A redirected hit is counted as served from the cache, though its bytes went from the bucket's domain.
  const served = c.outcomes.hit + c.outcomes.redirect + c.outcomes.miss + c.outcomes.joined;
  return metaJson({
    lru: [],
    packages_cached: null,
    artifacts_cached: null,
    total_hits: served,
    cached_hits: c.outcomes.hit + c.outcomes.redirect,
    fetch_hits: c.outcomes.miss + c.outcomes.joined,
    total_misses: c.outcomes.negative + c.outcomes.error,
    payload_bytes_received: c.bytesFilled,
    payload_bytes_transmitted: c.bytesSent,
    scope: "this isolate, since it started",
    since: c.since.toISOString(),
    requests: c.requests,
    broken: c.broken,
    outcomes: c.outcomes,
    // Tarballs answered by compression: zstd variants go to clients that ask for them (ZSTD).
    encodings: c.encodings,
    analytics: await analyticsTotals(rt, waitUntil),
  });
}

/** How long an isolate keeps the Analytics Engine totals before asking again (each ask is an API call on the operator's token). */
export const ANALYTICS_TOTALS_TTL_MS = 60_000;

export type AnalyticsTotals = Record<string, unknown>;

/**
 * The last day's requests by outcome (and by hour) from Analytics Engine, or why there are none. /meta/stats is
 * public, so the totals are shared: one query in flight per isolate, its answer (or its error)
 * kept for ANALYTICS_TOTALS_TTL_MS.
 */
export async function analyticsTotals(rt: Runtime, waitUntil: (p: Promise<unknown>) => void): Promise<AnalyticsTotals | string | null> {
  if (!rt.analytics) return null;
  const sql = rt.config.analyticsSql;
  const token = rt.secrets.analyticsToken;
  if (!sql || !token)
    return "written to Analytics Engine; set ANALYTICS_ACCOUNT_ID and the secret ANALYTICS_API_TOKEN for totals here, or run npm run stats";
  return rt.analyticsTotals.get(() => {
    // Other requests wait on this query: the request that started it keeps it running even if its own client leaves.
    const query = queryTotals(sql.url ?? sqlApiUrl(sql.account), token);
    waitUntil(query);
    return query;
  });
}

async function queryTotals(url: string, token: string): Promise<AnalyticsTotals> {
  const asOf = new Date().toISOString();
  try {
    const rows = await queryRollup(url, token, HOURLY, ANALYTICS_DATASET, 1, 5000);
    const outcomes: Record<string, number> = {};
    const hours = new Map<number, HourCounts>();
    let requests = 0;
    let bytes = 0;
    for (const r of rows) {
      const cache = String(r.cache);
      const n = Number(r.request_count);
      requests += n;
      bytes += Number(r.body_bytes_sent);
      outcomes[cache] = (outcomes[cache] ?? 0) + n;
      const at = hourOf(r.hour);
      if (at === null || !(cache in noOutcomes())) continue;
      const hour = hours.get(at) ?? { at, outcomes: noOutcomes(), bytes: 0 };
      hour.outcomes[cache as CacheOutcome] += Math.round(n);
      hour.bytes += Math.round(Number(r.body_bytes_sent));
      hours.set(at, hour);
    }
    return {
      scope: "every isolate, the last 24 hours (sampled)",
      as_of: asOf,
      requests: Math.round(requests),
      bytes: Math.round(bytes),
      outcomes: Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [k, Math.round(v)])),
      hours: [...hours.values()]
        .sort((a, b) => a.at - b.at)
        .map((h) => ({ hour: new Date(h.at).toISOString(), outcomes: h.outcomes, bytes: h.bytes })),
    };
  } catch (err) {
    return { error: `Analytics Engine could not be asked: ${err instanceof Error ? err.message : String(err)}`, as_of: asOf };
  }
}

/** An hour as the SQL API writes it ("2026-12-05 13:00:00", UTC), in ms; null if it is not one. */
function hourOf(value: unknown): number | null {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.\d+)?Z?$/.exec(String(value));
  return m ? Date.parse(`${m[1]}T${m[2]}Z`) : null;
}

/** The deployment's last 24 hours by the hour, when Analytics Engine answered with them. */
export function analyticsHours(totals: AnalyticsTotals | string | null): HourCounts[] | null {
  if (typeof totals !== "object" || totals === null || !Array.isArray(totals.hours)) return null;
  return (totals.hours as (Omit<HourCounts, "at"> & { hour: string })[]).map((h) => ({
    at: Date.parse(h.hour),
    outcomes: h.outcomes,
    bytes: h.bytes,
  }));
}

export function robots(): Response {
  return new Response("User-agent: *\nDisallow: /\n", { headers: { "content-type": "text/plain" } });
}
