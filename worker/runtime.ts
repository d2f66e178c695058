/**
 * Everything a request needs that outlives it: the parsed configuration, the store, and the way
 * to the fill coordinators. Built once per environment; a bad configuration is kept as an error so
 * every request can report it without re-parsing or crashing.
 */

import { ConfigError, configSummary, parseConfig, parseSecrets, type Config, type Secrets } from "./config";
import type { ObjectStore } from "./store/store";
import { storeFor } from "./store/factory";
import { RegistryRefresher } from "./registries/refresher";
import { coordinatedFills, type Fills } from "./fill/coordinator-calls";
import { MirrorMemory } from "./mirror/memory";
import { RequestNote } from "./ops/access-log";
import { RequestCounts } from "./ops/counts";
import { ANALYTICS_TOTALS_TTL_MS, type AnalyticsTotals } from "./ops/meta";
import { SharedAnswer } from "./ops/shared-answer";
import { Prefetcher, type PrefetchBindings } from "./prefetch/prefetch";
import { log, useLogFormat } from "./log";
import { useUpstreamCredentialsOf } from "./upstream/credentials";

export interface Runtime {
  config: Config;
  store: ObjectStore;
  fills: Fills;
  registries: RegistryRefresher;
  /** Filling what new registry snapshots add (null when PREFETCH is off). */
  prefetch: Prefetcher | null;
  /** What this isolate remembers about the binary mirror's copies and versions.json. */
  binaries: MirrorMemory;
  /** When this isolate started serving, for /meta. */
  startedAt: Date;
  /** What this isolate answered, by outcome (for /meta/stats and the status page). */
  counts: RequestCounts;
  /** The optional Analytics Engine dataset every protocol request is written to. */
  analytics?: AnalyticsEngineDataset;
  /** The latest upstream failures this isolate saw, newest last, for /meta. */
  upstreamFailures: UpstreamFailure[];
  /** The secrets that are set (config/table.ts lists them): never logged or shown. */
  secrets: Secrets;
  /** The totals /meta/stats shows, asked for at most once a minute by this isolate. */
  analyticsTotals: SharedAnswer<AnalyticsTotals>;
}

export interface UpstreamFailure {
  at: string;
  key: string;
  detail: string;
}

const MAX_FAILURES_KEPT = 20;

/** Keeps an upstream failure for /meta (a few, newest last). */
function noteUpstreamFailure(rt: Runtime, key: string, detail: string): void {
  rt.upstreamFailures.push({ at: new Date().toISOString(), key, detail });
  if (rt.upstreamFailures.length > MAX_FAILURES_KEPT) rt.upstreamFailures.shift();
}

/** What a request needs from its runtime (a cron round needs the same): the routes and the registry refresh take it. */
export interface RequestDeps {
  config: Config;
  store: ObjectStore;
  fills: Fills;
  /** Filling what new registry snapshots add (null when PREFETCH is off). */
  prefetch: Prefetcher | null;
  /** Keeps background work alive after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
  /** Records an upstream failure a request ran into (logged, and shown in /meta). */
  noteFailure(key: string, detail: string): void;
  /** Secrets the worker itself uses (never passed to coordinators or logged). */
  secrets: Secrets;
  /** What the request's answer was (hit, miss, …), for the access log. */
  note: RequestNote;
}

const runtimes = new WeakMap<object, Runtime | ConfigError>();
const reported = new Set<string>();

function fillsFor(env: Env, config: Config): Fills {
  const namespace = env.FILLS as Env["FILLS"] | undefined;
  if (!namespace || typeof namespace.idFromName !== "function")
    throw new ConfigError("FILLS", "no Durable Object namespace is bound as FILLS");
  return coordinatedFills(namespace, config);
}

/** The queue and the two Durable Object namespaces prefetching needs, each named when missing. */
function prefetchBindings(env: Env): PrefetchBindings {
  const problems: ConfigError[] = [];
  const queue = env.PREFETCH_QUEUE;
  if (typeof queue?.send !== "function") problems.push(new ConfigError("PREFETCH_QUEUE", "is not a queue producer binding"));
  for (const name of ["PREFETCH_LEDGERS", "PREFETCH_BUDGET"] as const) {
    if (typeof env[name]?.idFromName !== "function")
      problems.push(new ConfigError(name, `prefetching needs a Durable Object namespace bound as ${name} (wrangler.toml)`));
  }
  if (problems.length > 0) throw ConfigError.all(problems);
  return { queue: queue!, ledgers: env.PREFETCH_LEDGERS!, budget: env.PREFETCH_BUDGET! };
}

function analyticsOf(env: Env): AnalyticsEngineDataset | undefined {
  const binding: unknown = env.ANALYTICS;
  if (binding === undefined) return undefined;
  if (typeof (binding as AnalyticsEngineDataset | null)?.writeDataPoint !== "function")
    throw new ConfigError("ANALYTICS", "is bound but is not an Analytics Engine dataset");
  return binding as AnalyticsEngineDataset;
}

export function runtimeFor(env: Env): Runtime | ConfigError {
  let runtime = runtimes.get(env);
  if (!runtime) {
    runtime = buildRuntime(env);
    if (runtime instanceof ConfigError) {
      if (!reported.has(runtime.message)) {
        reported.add(runtime.message);
        log("error", "config_invalid", { variable: runtime.variable, message: runtime.message, problems: runtime.problems });
      }
    } else log("info", "config", configSummary(runtime.config, runtime.secrets, runtime.analytics !== undefined));
    runtimes.set(env, runtime);
  }
  return runtime;
}

/** The runtime, or every configuration problem at once: variables, secrets and bindings. */
function buildRuntime(env: Env): Runtime | ConfigError {
  // The parser reads variables by name from a plain bag, whatever the generated Env lists.
  const vars = { ...env } as Record<string, unknown>;
  const problems: ConfigError[] = [];
  const parsed = <T>(parse: (vars: Record<string, unknown>) => T): T | undefined => {
    try {
      return parse(vars);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
      return undefined;
    }
  };
  const config = parsed(parseConfig);
  const secrets = parsed(parseSecrets);
  if (problems.length > 0 || !config || !secrets) return ConfigError.all(problems);
  useLogFormat(config.logFormat);
  useUpstreamCredentialsOf(config, env.UPSTREAM_CREDENTIALS);
  try {
    return {
      config,
      store: storeFor(env, config),
      fills: fillsFor(env, config),
      registries: new RegistryRefresher(),
      prefetch: config.prefetch.mode === "off" ? null : new Prefetcher(prefetchBindings(env), config),
      binaries: new MirrorMemory(),
      startedAt: new Date(),
      counts: new RequestCounts(),
      analytics: analyticsOf(env),
      upstreamFailures: [],
      secrets,
      analyticsTotals: new SharedAnswer(ANALYTICS_TOTALS_TTL_MS),
    };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err;
  }
}

export function requestDepsFor(rt: Runtime, waitUntil: (p: Promise<unknown>) => void, note = new RequestNote()): RequestDeps {
  return {
    config: rt.config,
    store: rt.store,
    fills: rt.fills,
    prefetch: rt.prefetch,
    waitUntil,
    noteFailure: (key, detail) => noteUpstreamFailure(rt, key, detail),
    secrets: rt.secrets,
    note,
  };
}
