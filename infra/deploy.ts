/**
 * `npm run deploy -- --env staging|production`: deploys the worker to a named environment of
 * wrangler.toml, and only to one (the top level is the local configuration). CI deploys with the
 * same command on every merge; by hand it needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID.
 */

import { parseCommand } from "./cli.ts";
import { runWranglerSync } from "./lib/tools.ts";
import { wranglerEnvironments } from "./lib/wrangler-config.ts";

const environments = wranglerEnvironments();

const { values } = parseCommand({
  usage: "npm run deploy -- --env NAME [--dry-run]",
  options: { env: { type: "string" }, "dry-run": { type: "boolean", default: false } },
  help: [
    `--env NAME       the environment to deploy: ${environments.join(" or ")} (required)`,
    "--dry-run        bundle and check, upload nothing",
  ],
  environment: ["CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID   the account (wrangler reads them)"],
  example: "CLOUDFLARE_API_TOKEN=… CLOUDFLARE_ACCOUNT_ID=… npm run deploy -- --env staging",
});
if (!values.env || !environments.includes(values.env)) {
  console.error(
    `✗ --env must name an environment of wrangler.toml (${environments.join(", ")}); the top level is the local configuration and is never deployed`,
  );
  process.exit(2);
}
const args = ["deploy", "--env", values.env, ...(values["dry-run"] ? ["--dry-run"] : [])];
// A deploy talks to Cloudflare: wrangler is not kept offline here.
const run = runWranglerSync(args, { stdio: "inherit", offline: false });
process.exit(run.status ?? 1);
