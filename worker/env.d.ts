/**
 * What pkgedge reads beyond what `wrangler types` generates from wrangler.toml
 * (worker-configuration.d.ts: only what is set there): every variable and secret of the
 * configuration table (worker/config/table.ts, all optional strings, derived from it so the two
 * cannot drift), and the optional bindings.
 */

type PkgedgeConfigVariables = import("./config/table").ConfigVariables;

interface PkgedgeOptionalEnv extends PkgedgeConfigVariables {
  ANALYTICS?: AnalyticsEngineDataset;
  PREFETCH_QUEUE?: Queue<import("./prefetch/prefetch").PrefetchMessage>;
  PREFETCH_LEDGERS?: DurableObjectNamespace<import("./prefetch/ledger").PrefetchLedger>;
  PREFETCH_BUDGET?: DurableObjectNamespace<import("./prefetch/budget").PrefetchBudget>;
}

// Merged into the Env that wrangler types declares (globally and as Cloudflare.Env).
interface Env extends PkgedgeOptionalEnv {}
declare namespace Cloudflare {
  interface Env extends PkgedgeOptionalEnv {}
}
