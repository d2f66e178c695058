/** pkgedge: a Julia Pkg server on Cloudflare Workers. */
import { env } from "cloudflare:workers";
import { app } from "./app";
import { ConfigError } from "./config";
import { FLAVORS } from "./protocol/flavors";
import { mirrorDepsFor, runtimeFor } from "./runtime";

export { FillCoordinator } from "./fill/coordinator";

// Say the configuration in effect, or everything wrong with it, as soon as the worker is loaded
// (wrangler dev prints it at startup), not only at the first request. Nothing here does I/O.
runtimeFor(env as Env);

export default {
  fetch: app.fetch,

  /** The cron trigger (every minute): revalidate every flavor's registry list. */
  async scheduled(_controller, env, ctx) {
    const rt = runtimeFor(env);
    if (rt instanceof ConfigError) return; // already logged; requests report it too
    const deps = mirrorDepsFor(rt, (p) => ctx.waitUntil(p));
    await Promise.all(FLAVORS.map((flavor) => rt.registries.refresh(deps, flavor)));
  },
} satisfies ExportedHandler<Env>;
