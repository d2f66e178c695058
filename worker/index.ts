/** pkgedge: a Julia Pkg server on Cloudflare Workers. */
import { app } from "./app";
import { ConfigError } from "./config";
import { FLAVORS } from "./routes/flavor";
import { mirrorDepsFor, runtimeFor } from "./runtime";

export { FillCoordinator } from "./fill/coordinator";

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
