/**
 * `npm run provision -- [--env staging|production ...] [--dry-run]`
 *
 * What a new Cloudflare account needs before the first deploy, done idempotently with wrangler
 * (logged in with `wrangler login`, or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID in the
 * environment): the R2 bucket each
 * environment binds as BUCKET and the prefetch queue and its dead-letter queue (read from
 * wrangler.toml; each created only if missing) and, when
 * S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY are set here, those secrets on each environment. The
 * production custom domain is the `routes` entry in wrangler.toml: `wrangler deploy` creates it.
 * With --dry-run it only prints what it would run.
 */

import { parseCommand } from "./cli.ts";
import { runWranglerSync } from "./lib/tools.ts";
import { bucketOf, queuesOf, unknownEnvironment, wranglerEnvironments } from "./lib/wrangler-config.ts";
import { stripVTControlCharacters } from "node:util";

const { values } = parseCommand({
  usage: "npm run provision -- [--env staging|production ...] [--dry-run]",
  options: { env: { type: "string", multiple: true }, "dry-run": { type: "boolean", default: false } },
  help: [
    "--env NAME       an environment of wrangler.toml (repeatable; default: staging and production)",
    "--dry-run        print what would run, run nothing",
  ],
  environment: [
    "CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID   the account (wrangler reads them); not needed after `npx wrangler login`",
    "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY        with STORAGE=s3: set as secrets on each environment",
  ],
  example: "npx wrangler login && npm run provision -- --env staging --dry-run",
});
const environments = values.env?.length ? values.env : wranglerEnvironments();
for (const env of environments) {
  if (!wranglerEnvironments().includes(env)) {
    console.error(`✗ ${unknownEnvironment(env).message}`);
    process.exit(2);
  }
}
const dryRun = values["dry-run"];

function wrangler(args: string[], input?: string): { code: number; out: string } {
  const shown = `wrangler ${args.join(" ")}${input !== undefined ? " (value from the environment)" : ""}`;
  if (dryRun) {
    console.log(`would run: ${shown}`);
    return { code: 0, out: "" };
  }
  const r = runWranglerSync(args, { input, offline: false });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

/** What wrangler said went wrong, in one line: its error line, else its last line. */
function wranglerSaid(out: string): string {
  const lines = stripVTControlCharacters(out)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const error = lines.find((l) => /^✘|\[ERROR\]|^Error/.test(l));
  const last = lines.filter((l) => !/--temporary/.test(l)).at(-1);
  return (error ?? last ?? "no output").replace(/^✘\s*\[ERROR\]\s*/, "");
}

// Either credential works: an API token in the environment, or `wrangler login`'s.
if (!dryRun && !process.env.CLOUDFLARE_API_TOKEN) {
  const who = wrangler(["whoami"]);
  if (who.code !== 0 || /not authenticated|You are not logged in/i.test(who.out)) {
    console.error("✗ not logged in to Cloudflare: run `npx wrangler login`, or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID");
    process.exit(1);
  }
}

let failed = false;
for (const env of environments) {
  const bucket = bucketOf(env);
  const listed = wrangler(["r2", "bucket", "list"]);
  if (!dryRun && listed.code !== 0) {
    console.error(`✗ ${env}: could not list R2 buckets: ${wranglerSaid(listed.out)}`);
    failed = true;
    continue;
  }
  if (!dryRun && new RegExp(`(^|\\s)name:\\s*${bucket}\\b`, "m").test(listed.out)) {
    console.log(`✓ ${env}: bucket ${bucket} exists`);
  } else {
    const created = wrangler(["r2", "bucket", "create", bucket]);
    if (created.code !== 0 && !/already exists/i.test(created.out)) {
      console.error(`✗ ${env}: could not create bucket ${bucket}: ${wranglerSaid(created.out)}`);
      failed = true;
      continue;
    }
    if (!dryRun) console.log(`✓ ${env}: bucket ${bucket} created`);
  }
  const queues = wrangler(["queues", "list"]);
  for (const queue of queuesOf(env)) {
    if (!dryRun && queues.code === 0 && new RegExp(`(^|[\\s│|])${queue}([\\s│|]|$)`, "m").test(queues.out)) {
      console.log(`✓ ${env}: queue ${queue} exists`);
      continue;
    }
    const created = wrangler(["queues", "create", queue]);
    if (created.code !== 0 && !/already (exists|taken)/i.test(created.out)) {
      console.error(`✗ ${env}: could not create queue ${queue}: ${wranglerSaid(created.out)}`);
      failed = true;
    } else if (!dryRun) console.log(`✓ ${env}: queue ${queue} created`);
  }
  for (const secret of ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) {
    const value = process.env[secret];
    if (!value) continue;
    const put = wrangler(["secret", "put", secret, "--env", env], value);
    if (put.code !== 0) {
      console.error(`✗ ${env}: could not set ${secret}: ${wranglerSaid(put.out)}`);
      failed = true;
    } else if (!dryRun) console.log(`✓ ${env}: secret ${secret} set`);
  }
}
process.exit(failed ? 1 : 0);
