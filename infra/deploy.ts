/**
 * `npm run deploy -- --env staging|production`: deploys the worker to a named environment of
 * wrangler.toml, and only to one (the top level is the local configuration). CI deploys with the
 * same command on every merge; by hand it needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID.
 */

import { parseCommand } from "./cli.ts";
import { passThrough, spawnWrangler } from "./lib/tools.ts";
import { reachOf, unknownEnvironment, wranglerEnvironments } from "./lib/wrangler-config.ts";

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
  console.error(`✗ ${unknownEnvironment(values.env).message}`);
  process.exit(2);
}
// A worker deployed with neither a route nor workers.dev answers nobody.
if (reachOf(values.env).length === 0) {
  const why = `[env.${values.env}] in wrangler.toml has neither routes (e.g. routes = [{ pattern = "pkg.example.org", custom_domain = true }]) nor workers_dev = true: the worker would be deployed where nobody can reach it (docs/operations.md, "Deploy it for your organisation")`;
  if (!values["dry-run"]) {
    console.error(`✗ ${why}`);
    process.exit(2);
  }
  console.error(`⚠ ${why}`);
}
const args = ["deploy", "--env", values.env, ...(values["dry-run"] ? ["--dry-run"] : [])];
// A deploy talks to Cloudflare: wrangler is not kept offline here, but stays quiet, and its hint
// to deploy to a temporary account (which is not how pkgedge is deployed) is left out.
const child = spawnWrangler(args, { stdio: ["inherit", "pipe", "pipe"], offline: false });
const hint = (plain: string) => /--temporary|temporary preview account/.test(plain);
passThrough(child.stdout!, process.stdout, hint);
passThrough(child.stderr!, process.stderr, hint);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
