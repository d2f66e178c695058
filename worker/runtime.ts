/**
 * Everything a request needs that outlives it: the parsed configuration, the store, and what this
 * isolate recently learnt from upstream. Built once per environment; a bad configuration is kept
 * as an error so every request can report it without re-parsing or crashing.
 */

import { ConfigError, parseConfig, type Config } from "./config";
import type { ObjectStore } from "./store/store";
import { R2Store } from "./store/r2";
import { RecentLookups } from "./fill/recent";
import { RegistryRefresher } from "./registries/serve";
import type { FillDeps } from "./fill/fill";
import { treeHashCheck } from "./fill/verified";
import { log } from "./log";

export interface Runtime {
  config: Config;
  store: ObjectStore;
  recent: RecentLookups;
  registries: RegistryRefresher;
  /** When this isolate started serving, for /meta. */
  startedAt: Date;
}

const runtimes = new WeakMap<object, Runtime | ConfigError>();
const reported = new Set<string>();

function buildStore(env: Env, config: Config): ObjectStore {
  const bucket = (env as { BUCKET?: R2Bucket }).BUCKET;
  if (!bucket || typeof bucket.get !== "function") throw new ConfigError("BUCKET", "no R2 bucket is bound as BUCKET");
  return new R2Store(bucket, config);
}

export function runtimeFor(env: Env): Runtime | ConfigError {
  let runtime = runtimes.get(env);
  if (!runtime) {
    try {
      const config = parseConfig(env as unknown as Record<string, unknown>);
      runtime = { config, store: buildStore(env, config), recent: new RecentLookups(), registries: new RegistryRefresher(), startedAt: new Date() };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      runtime = err;
      if (!reported.has(err.message)) {
        reported.add(err.message);
        log("error", "config_invalid", { variable: err.variable, message: err.message });
      }
    }
    runtimes.set(env, runtime);
  }
  return runtime;
}

/** What a fill needs from the runtime and the invocation it runs in (a request, a cron event). */
export function fillDepsFor(rt: Runtime, waitUntil: (p: Promise<unknown>) => void): FillDeps {
  return {
    config: rt.config,
    store: rt.store,
    recent: rt.recent,
    waitUntil,
    extraChecks: (resource) => [treeHashCheck(resource)],
  };
}
