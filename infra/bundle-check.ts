/**
 * `npm run bundle:check`: bundles the worker for every environment with `wrangler deploy --dry-run`
 * (offline, no account needed) and fails if the gzipped upload exceeds the budget.
 *
 * Budget: 112 KiB gzipped. The worker is about 98 KiB (94 KiB before zstd variants, 55 KiB before the binary mirror, the access
 * log, analytics and the status page; 76 KiB before the bounds and checks that harden prefetching,
 * the binary mirror, ranges and statistics); what would blow it is a heavy dependency (the AWS SDK alone
 * adds ~140 KiB gzipped, hence aws4fetch in the worker), and a larger bundle means slower cold
 * starts at every edge location.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputOf, spawnWrangler } from "./lib/tools.ts";

export const BUDGET_GZIP_KIB = 112;
const ENVIRONMENTS = ["", "staging", "production"];

function dryRun(env: string, outdir: string): Promise<{ code: number; output: string }> {
  return outputOf(spawnWrangler(["deploy", "--dry-run", "--outdir", outdir, ...(env ? ["--env", env] : [])]));
}

let failed = false;
for (const env of ENVIRONMENTS) {
  const label = env || "default";
  const outdir = mkdtempSync(join(tmpdir(), "pkgedge-bundle-"));
  try {
    const { code, output } = await dryRun(env, outdir);
    const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output);
    if (code !== 0 || !m) {
      failed = true;
      console.error(`✗ ${label}: wrangler deploy --dry-run failed\n${output}`);
      continue;
    }
    const gzip = Number(m[2]);
    const within = gzip <= BUDGET_GZIP_KIB;
    failed ||= !within;
    console.log(`${within ? "✓" : "✗"} ${label}: ${m[1]} KiB, ${gzip} KiB gzipped (budget ${BUDGET_GZIP_KIB} KiB gzipped)`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
process.exit(failed ? 1 : 0);
