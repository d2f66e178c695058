/** pkgedge: a Julia Pkg server on Cloudflare Workers. */
import { env } from "cloudflare:workers";
import { app } from "./app";
import { ConfigError } from "./config";
import { FLAVORS } from "./protocol/flavors";
import { requestDepsFor, runtimeFor } from "./runtime";
import type { PrefetchMessage } from "./prefetch/prefetch";
import { log } from "./log";

export { FillCoordinator } from "./fill/coordinator";
export { PrefetchLedger } from "./prefetch/ledger";
export { PrefetchBudget } from "./prefetch/budget";

// A rejection nobody handled in pkgedge's isolate is pkgedge's own bug: it is logged in pkgedge's
// format, and not left to the runtime's "Uncaught (in promise)" line, which then always names
// another isolate (under wrangler dev, the local R2 simulator's: docs/operations.md).
addEventListener("unhandledrejection", (event) => {
  const reason = event.reason instanceof Error ? (event.reason.stack ?? event.reason.message) : String(event.reason);
  log("error", "unhandled_rejection", { reason });
  event.preventDefault();
});

// Say the configuration in effect, or everything wrong with it, as soon as the worker is loaded
// (wrangler dev prints it at startup), not only at the first request. Nothing here does I/O.
runtimeFor(env as Env);

export default {
  fetch: app.fetch,

  /** The cron trigger (every minute): revalidate every flavor's registry list. */
  async scheduled(_controller, env, ctx) {
    const rt = runtimeFor(env);
    if (rt instanceof ConfigError) return; // already logged; requests report it too
    const deps = requestDepsFor(rt, (p) => ctx.waitUntil(p));
    await Promise.all(FLAVORS.map((flavor) => rt.registries.refresh(deps, flavor)));
  },

  /** The prefetch queue and its dead-letter queue (see prefetch/prefetch.ts). */
  async queue(batch, env) {
    const rt = runtimeFor(env);
    if (rt instanceof ConfigError) return batch.retryAll({ delaySeconds: 60 });
    if (!rt.prefetch) return batch.ackAll(); // PREFETCH=off: what was queued before is dropped
    await rt.prefetch.consume(batch as MessageBatch<PrefetchMessage>, rt.store, rt.fills);
  },
} satisfies ExportedHandler<Env>;
