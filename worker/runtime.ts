/**
 * Everything a request needs that outlives it: the parsed configuration, the store, and the way
 * to the fill coordinators. Built once per environment; a bad configuration is kept as an error so
 * every request can report it without re-parsing or crashing.
 */

import { ConfigError, configVars, parseConfig, type Config } from "./config";
import type { ObjectStore } from "./store/store";
import { R2Store } from "./store/r2";
import { S3Store } from "./store/s3";
import { RegistryRefresher } from "./registries/serve";
import { coordinatedFills, type Fills } from "./fill/fills";
import { log } from "./log";

export interface Runtime {
  config: Config;
  store: ObjectStore;
  fills: Fills;
  registries: RegistryRefresher;
  /** When this isolate started serving, for /meta. */
  startedAt: Date;
}

/** What the routes and the registry refresh need for one invocation (a request, a cron event). */
export interface MirrorDeps {
  config: Config;
  store: ObjectStore;
  fills: Fills;
  /** Keeps background work alive after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

const runtimes = new WeakMap<object, Runtime | ConfigError>();
const reported = new Set<string>();

/** The bucket, as the one storage interface everything uses: the only place that knows which backend. */
export function storeFor(env: Env, config: Config): ObjectStore {
  if (config.storage.kind === "s3") {
    const secrets = env as unknown as Record<string, unknown>;
    const secret = (name: string) => {
      const value = secrets[name];
      if (typeof value !== "string" || value === "") throw new ConfigError(name, `STORAGE=s3 needs the secret ${name} (wrangler secret put ${name}, or .dev.vars)`);
      return value;
    };
    const { endpoint, bucket, region, forcePathStyle } = config.storage;
    return new S3Store({
      endpoint,
      bucket,
      region,
      forcePathStyle,
      accessKeyId: secret("S3_ACCESS_KEY_ID"),
      secretAccessKey: secret("S3_SECRET_ACCESS_KEY"),
      multipartThresholdBytes: config.multipartThresholdBytes,
      multipartPartBytes: config.multipartPartBytes,
    });
  }
  const bucket = (env as { BUCKET?: R2Bucket }).BUCKET;
  if (!bucket || typeof bucket.get !== "function") throw new ConfigError("BUCKET", "no R2 bucket is bound as BUCKET");
  return new R2Store(bucket, config);
}

function fillsFor(env: Env, config: Config): Fills {
  const namespace = (env as { FILLS?: DurableObjectNamespace }).FILLS;
  if (!namespace || typeof namespace.idFromName !== "function") throw new ConfigError("FILLS", "no Durable Object namespace is bound as FILLS");
  return coordinatedFills(namespace, config.upstreams, configVars(env as unknown as Record<string, unknown>));
}

export function runtimeFor(env: Env): Runtime | ConfigError {
  let runtime = runtimes.get(env);
  if (!runtime) {
    try {
      const config = parseConfig(env as unknown as Record<string, unknown>);
      runtime = { config, store: storeFor(env, config), fills: fillsFor(env, config), registries: new RegistryRefresher(), startedAt: new Date() };
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

export function mirrorDepsFor(rt: Runtime, waitUntil: (p: Promise<unknown>) => void): MirrorDeps {
  return { config: rt.config, store: rt.store, fills: rt.fills, waitUntil };
}
