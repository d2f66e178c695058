/** Where the repository is, and the environment that keeps wrangler off the network: shared by the operator scripts, the tests and the benchmarks. */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Keeps wrangler off the network: no telemetry, no request.cf lookup, no update check. */
export const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
