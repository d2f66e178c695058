/**
 * `npm run stats -- [--days N] [--csv DIR] [--dataset NAME]`: pkgedge's download statistics from
 * Workers Analytics Engine (the worker writes one data point per protocol request when an
 * ANALYTICS binding is set). Prints the usual rollups as tables — per package, Julia version,
 * system, client type, cache outcome, resource kind, country and colo — or, with --csv, writes
 * CSV files shaped like JuliaLang's public daily rollups of its Pkg server logs.
 *
 * Environment: CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (a token with Account Analytics:
 * Read). ANALYTICS_SQL_URL overrides the SQL API's address (tests point it at a local fake).
 *
 * Example: CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_API_TOKEN=… npm run stats -- --days 7
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseCommand } from "./cli.ts";
import { describeFailure } from "./lib/failure.ts";
import { accountIdOf } from "./lib/validate.ts";
import { ANALYTICS_DATASET, CSV_FILES, queryRollup, sqlApiUrl, TABLES, type Rollup, type RollupRow } from "../worker/ops/rollups.ts";
import { isLoopback } from "../worker/protocol/loopback.ts";
import { csvCell, printable } from "./untrusted-text.ts";

function fail(message: string): never {
  // The message may quote the SQL API's answer.
  console.error(`✗ ${printable(message)}`);
  process.exit(2);
}

const { values } = parseCommand({
  usage: "npm run stats -- [--days N] [--csv DIR] [--dataset NAME]",
  options: { days: { type: "string", default: "1" }, csv: { type: "string" }, dataset: { type: "string", default: ANALYTICS_DATASET } },
  help: [
    "--days N         how many days back (default 1, at most 90)",
    "--csv DIR        write CSV files (JuliaLang's rollup shapes) into DIR instead of printing tables",
    `--dataset NAME   the Analytics Engine dataset (default ${ANALYTICS_DATASET})`,
  ],
  environment: [
    "CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN (Account Analytics: Read)",
    "ANALYTICS_SQL_URL   another SQL API address (optional; https, or plain http to loopback only)",
  ],
  example: "CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_API_TOKEN=… npm run stats -- --days 7",
});
const days = Number(values.days);
if (!Number.isInteger(days) || days < 1 || days > 90) fail(`--days must be a whole number from 1 to 90, got ${values.days}`);
if (!/^[A-Za-z0-9_]+$/.test(values.dataset!)) fail(`--dataset must be a dataset name, got ${values.dataset}`);
const account = process.env.CLOUDFLARE_ACCOUNT_ID;
const token = process.env.CLOUDFLARE_API_TOKEN;
if (!account) fail("CLOUDFLARE_ACCOUNT_ID is not set (your 32-character account ID)");
if (!token) fail("CLOUDFLARE_API_TOKEN is not set (a token with Account Analytics: Read)");
accountIdOf("CLOUDFLARE_ACCOUNT_ID", account);
const endpoint = process.env.ANALYTICS_SQL_URL ?? sqlApiUrl(account);
// The request carries the API token: never in the clear past this machine (the worker's rule for ANALYTICS_SQL_URL too).
let endpointUrl: URL;
try {
  endpointUrl = new URL(endpoint);
} catch {
  fail(`ANALYTICS_SQL_URL is not a URL: ${endpoint}`);
}
if (endpointUrl.protocol !== "https:" && !(endpointUrl.protocol === "http:" && isLoopback(endpointUrl)))
  fail(`ANALYTICS_SQL_URL must be https (plain http only to loopback): the API token would travel in the clear to ${endpointUrl.host}`);

type Row = RollupRow;

async function query(rollup: Rollup): Promise<Row[]> {
  try {
    return await queryRollup(endpoint, token!, rollup, values.dataset!, days);
  } catch (err) {
    return fail(describeFailure(err));
  }
}

function printTable(rollup: Rollup, rows: Row[]): void {
  const header = [...rollup.columns.map((c) => c.as), "requests", "bytes"];
  const total = rows.reduce((n, r) => n + Number(r.request_count), 0);
  // Column values are what clients sent (Julia-Version, Julia-System…): never raw on the terminal.
  const lines = rows.map((r) => [
    ...rollup.columns.map((c) => (r[c.as] === "" ? "(none)" : printable(String(r[c.as])))),
    String(Math.round(Number(r.request_count))),
    String(Math.round(Number(r.body_bytes_sent))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  console.log(`\n${rollup.title} (last ${days} day${days === 1 ? "" : "s"}, ${Math.round(total)} requests)`);
  console.log("  " + header.map((h, i) => h.padEnd(widths[i]!)).join("  "));
  for (const l of lines) console.log("  " + l.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  if (lines.length === 0) console.log("  (no requests)");
}

if (values.csv) {
  mkdirSync(values.csv, { recursive: true });
  for (const rollup of CSV_FILES) {
    const rows = await query(rollup);
    const header = [
      ...rollup.columns.map((c) => c.as),
      "request_addrs",
      "request_count",
      ...(rollup.name === "resource_types_by_date" ? ["body_bytes_sent"] : []),
    ];
    const body = rows.map((r) =>
      header.map((h) => csvCell(h === "request_count" || h === "body_bytes_sent" ? Math.round(Number(r[h])) : r[h])).join(","),
    );
    const file = join(values.csv, `${rollup.name}.csv`);
    writeFileSync(file, [header.join(","), ...body].join("\n") + "\n");
    console.log(`wrote ${file} (${rows.length} rows)`);
  }
} else {
  for (const rollup of TABLES) printTable(rollup, await query(rollup));
}
