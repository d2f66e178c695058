/**
 * `npm run deploy -- --env staging|production`: deploys the worker to a named environment of
 * wrangler.toml, and only to one (the top level is the local configuration). CI deploys with the
 * same command on every merge; by hand it needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID.
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseCommand } from "./cli.ts";
import { REPO } from "./repo.ts";

const environments = [...readFileSync(join(REPO, "wrangler.toml"), "utf8").matchAll(/^\[env\.([a-z0-9-]+)\]$/gm)].map((m) => m[1]!);

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
const bin = join(REPO, "node_modules", ".bin");
const run = spawnSync(join(bin, "wrangler"), args, { stdio: "inherit", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
process.exit(run.status ?? 1);
