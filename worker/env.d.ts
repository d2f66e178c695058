/**
 * The optional variables, secrets and bindings pkgedge reads, beside what `wrangler types`
 * generates from wrangler.toml (worker-configuration.d.ts: only what is set there). Each is
 * documented in wrangler.toml and docs/configuration.md.
 */

interface PkgedgeOptionalEnv {
  // Secrets (wrangler secret put NAME, or .dev.vars locally).
  S3_ACCESS_KEY_ID?: string;
  S3_SECRET_ACCESS_KEY?: string;
  GITHUB_TOKEN?: string;
  CLIENT_HASH_KEY?: string;
  ANALYTICS_API_TOKEN?: string;
  // Bindings.
  ANALYTICS?: AnalyticsEngineDataset;
  PREFETCH_QUEUE?: Queue<import("./prefetch/prefetch").PrefetchMessage>;
  PREFETCH_LEDGERS?: DurableObjectNamespace<import("./prefetch/ledger").PrefetchLedger>;
  PREFETCH_BUDGET?: DurableObjectNamespace<import("./prefetch/budget").PrefetchBudget>;
  // Variables beyond those set in wrangler.toml's [vars] (all optional, all strings).
  STORAGE?: string;
  S3_ENDPOINT?: string;
  S3_BUCKET?: string;
  S3_REGION?: string;
  S3_FORCE_PATH_STYLE?: string;
  S3_TIMEOUT_MS?: string;
  REGISTRIES?: string;
  PATH_PREFIX?: string;
  ALLOW_INSECURE_UPSTREAMS?: string;
  BINARY_MIRRORS?: string;
  BINARY_MIRROR_TTL_SECONDS?: string;
  SIBLINGS?: string;
  ACCESS_LOG?: string;
  ANALYTICS_ACCOUNT_ID?: string;
  ANALYTICS_SQL_URL?: string;
  PKGEDGE_RUN_ID?: string;
  PREFETCH?: string;
  PREFETCH_PLATFORMS?: string;
  PREFETCH_LAZY?: string;
  PREFETCH_GATE?: string;
  PREFETCH_CONCURRENCY?: string;
  PREFETCH_DAILY_BUDGET?: string;
  PREFETCH_DAILY_BYTES?: string;
  PREFETCH_MAX_ARTIFACTS_PER_VERSION?: string;
  PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT?: string;
  PREFETCH_RETRY_DELAY_SECONDS?: string;
  VERIFY_MAX_RATIO?: string;
  VERIFY_MAX_DECOMPRESSED_BYTES?: string;
}

// Merged into the Env that wrangler types declares (globally and as Cloudflare.Env).
interface Env extends PkgedgeOptionalEnv {}
declare namespace Cloudflare {
  interface Env extends PkgedgeOptionalEnv {}
}
