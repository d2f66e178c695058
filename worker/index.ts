/** pkgedge: a Julia Pkg server on Cloudflare Workers. */
import { app } from "./app";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
