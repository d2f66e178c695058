/**
 * `npm run stats` against a local fake of the Analytics Engine SQL API holding data points made
 * by the worker's own dataPoint() from access-log records: the tables it prints and the CSV files
 * it writes, and its refusals (no credentials, a bad option).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataPoint } from "../../worker/ops/analytics.ts";
import type { AccessRecord } from "../../worker/ops/access-log.ts";
import { ANALYTICS_DATASET } from "../../worker/ops/rollups.ts";
import { startAnalyticsSql, type StoredPoint } from "../fixtures/analytics-sql.ts";
import { runScript } from "./run-script.ts";
import { csvCell, printable } from "../../infra/untrusted-text.ts";

const EXAMPLE = "7876af07-990d-54b4-ab0e-23690620f79a";
const OTHER = "682c06a0-de6a-54ab-a142-c8b1cf79cde6";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const TOKEN = "test-token";

function record(over: Partial<AccessRecord>): AccessRecord {
  return {
    time: "",
    method: "GET",
    path: `/package/${EXAMPLE}/${"a".repeat(40)}`,
    status: 200,
    encoding: null,
    bytes: 1000,
    broken: false,
    duration_ms: 5,
    cache: "hit",
    upstream: "https://up.example",
    kind: "package",
    uuid: EXAMPLE,
    julia_version: "1.10.4",
    julia_system: "x86_64-linux-gnu",
    julia_ci_variables: "CI=n",
    julia_interactive: "true",
    julia_pkg_server: null,
    user_agent: null,
    request_id: "r",
    country: "DE",
    colo: "FRA",
    ...over,
  };
}

const today = new Date();
const points: StoredPoint[] = [
  ...Array.from({ length: 3 }, (_, i) => ({ ...dataPoint(record({ client: `c${i}` })), timestamp: today, sampleInterval: 1 })),
  {
    ...dataPoint(
      record({
        cache: "miss",
        julia_version: "1.11.2",
        julia_ci_variables: "CI=t;GITHUB_ACTIONS=t",
        client: "c9",
        country: "US",
        colo: "IAD",
      }),
    ),
    timestamp: today,
    sampleInterval: 10,
  },
  { ...dataPoint(record({ uuid: OTHER, path: `/package/${OTHER}/${"b".repeat(40)}`, bytes: 50 })), timestamp: today, sampleInterval: 1 },
  {
    ...dataPoint(record({ kind: "artifact", uuid: null, path: `/artifact/${"c".repeat(40)}`, bytes: 7000 })),
    timestamp: today,
    sampleInterval: 1,
  },
  // Older than the window: never counted.
  { ...dataPoint(record({ julia_version: "0.7.0" })), timestamp: new Date(Date.now() - 3 * 86400_000), sampleInterval: 1 },
];

let api: Awaited<ReturnType<typeof startAnalyticsSql>>;
let out: string;
const env = () => ({
  CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
  CLOUDFLARE_API_TOKEN: TOKEN,
  ANALYTICS_SQL_URL: `${api.url}/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`,
});

beforeAll(async () => {
  api = await startAnalyticsSql({ account: ACCOUNT, token: TOKEN, dataset: ANALYTICS_DATASET, points });
  out = mkdtempSync(join(tmpdir(), "pkgedge-stats-"));
});
afterAll(async () => {
  await api?.close();
  rmSync(out, { recursive: true, force: true });
});

describe("npm run stats", () => {
  it("prints the rollups, weighted by the sample interval, within the window", async () => {
    const run = await runScript("infra/stats.ts", ["--days", "1"], env());
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/Requests and bytes per package \(last 1 day, 14 requests\)/);
    expect(run.output).toMatch(new RegExp(`${EXAMPLE}\\s+13\\s+13000`));
    expect(run.output).toMatch(new RegExp(`${OTHER}\\s+1\\s+50`));
    expect(run.output).toMatch(/1\.11\.2\s+10\s/);
    expect(run.output).toMatch(/\n\s+ci\s+10\s/);
    expect(run.output).toMatch(/\n\s+user\s+5\s/);
    expect(run.output).toMatch(/miss\s+10\s/);
    expect(run.output).toMatch(/US\s+IAD\s+10\s/);
    expect(run.output).not.toContain("0.7.0");
    expect(api.queries.every((q) => q.includes(`FROM ${ANALYTICS_DATASET}`) && q.endsWith("FORMAT JSON"))).toBe(true);
  });

  it("writes CSV files shaped like JuliaLang's public rollups", async () => {
    const run = await runScript("infra/stats.ts", ["--csv", out], env());
    expect(run.code, run.output).toBe(0);
    const date = today.toISOString().slice(0, 10);
    const packages = readFileSync(join(out, "package_requests_by_date.csv"), "utf8").trim().split("\n");
    expect(packages[0]).toBe("package_uuid,status,client_type_id,date,request_addrs,request_count");
    expect(packages).toContain(`${EXAMPLE},200,user,${date},3,3`);
    expect(packages).toContain(`${EXAMPLE},200,ci,${date},1,10`);
    const regions = readFileSync(join(out, "package_requests_by_region_by_date.csv"), "utf8");
    expect(regions.split("\n")[0]).toBe("package_uuid,status,client_type_id,region,date,request_addrs,request_count");
    const kinds = readFileSync(join(out, "resource_types_by_date.csv"), "utf8").trim().split("\n");
    expect(kinds[0]).toBe("resource_type,status,client_type_id,date,request_addrs,request_count,body_bytes_sent");
    expect(kinds).toContain(`artifact,200,user,${date},1,1,7000`);
    for (const f of ["julia_versions_by_date.csv", "julia_systems_by_date.csv"])
      expect(readFileSync(join(out, f), "utf8").split("\n")[0]).toMatch(/client_type_id,date,request_addrs,request_count$/);
  });

  it("refuses to run without credentials, and explains its options on --help and for unknown ones", async () => {
    const none = await runScript("infra/stats.ts", [], { CLOUDFLARE_ACCOUNT_ID: "", CLOUDFLARE_API_TOKEN: "" });
    expect(none.code).toBe(2);
    expect(none.output).toContain("CLOUDFLARE_ACCOUNT_ID is not set");
    const help = await runScript("infra/stats.ts", ["--help"], {});
    expect(help.code).toBe(0);
    expect(help.output).toMatch(/usage: npm run stats/);
    expect(help.output).toMatch(/example:/);
    const unknown = await runScript("infra/stats.ts", ["--bogus"], env());
    expect(unknown.code).toBe(2);
    expect(unknown.output.trim().split("\n").length).toBe(1);
    const clear = await runScript("infra/stats.ts", [], { ...env(), ANALYTICS_SQL_URL: "http://sql.example.org/sql" });
    expect(clear.code).toBe(2);
    expect(clear.output).toContain("ANALYTICS_SQL_URL must be https (plain http only to loopback)");
    const badToken = await runScript("infra/stats.ts", [], { ...env(), CLOUDFLARE_API_TOKEN: "wrong" });
    expect(badToken.code).toBe(2);
    expect(badToken.output).toContain("answered 401");
  });
});

describe("npm run stats with what clients sent in hostile headers", () => {
  // What a client can put in its Julia-* headers, stored by the worker and answered by the SQL API as it was sent.
  const ANSI = "\x1b[2J\x1b[31mpwned\x1b]8;;https://evil.example\x07link\x1b]8;;\x07";
  const BIDI = "1.10.4\u202egnp.exe";
  const FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"];
  const hostile: StoredPoint[] = [ANSI, BIDI, ...FORMULAS].map((v, i) => ({
    ...dataPoint(record({ julia_version: v, julia_system: v, client: `h${i}` })),
    timestamp: today,
    sampleInterval: 1,
  }));
  let hostileApi: Awaited<ReturnType<typeof startAnalyticsSql>>;
  let dir: string;
  const hostileEnv = () => ({
    CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
    CLOUDFLARE_API_TOKEN: TOKEN,
    ANALYTICS_SQL_URL: `${hostileApi.url}/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`,
  });
  beforeAll(async () => {
    hostileApi = await startAnalyticsSql({ account: ACCOUNT, token: TOKEN, dataset: ANALYTICS_DATASET, points: hostile });
    dir = mkdtempSync(join(tmpdir(), "pkgedge-stats-hostile-"));
  });
  afterAll(async () => {
    await hostileApi?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints no control character a client sent: escape sequences and bidi overrides are shown as escapes", async () => {
    const run = await runScript("infra/stats.ts", ["--days", "1"], hostileEnv());
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/Per Julia version \(last 1 day, 8 requests\)/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    expect(run.output).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
    expect(run.output).toContain("\\x1b[2J\\x1b[31mpwned\\x1b]8;;https://evil.example\\x07link");
    expect(run.output).toContain("1.10.4\\u202egnp.exe");
    expect(run.output).toContain("\\x09TAB");
  });

  it("writes no CSV cell a spreadsheet would run as a formula, and no control character", async () => {
    const run = await runScript("infra/stats.ts", ["--csv", dir], hostileEnv());
    expect(run.code, run.output).toBe(0);
    const csv = readFileSync(join(dir, "julia_versions_by_date.csv"), "utf8");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    expect(csv).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
    const firstCells = csv
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.replace(/^"/, "").split(",")[0]!);
    expect(firstCells.length).toBe(8);
    for (const cell of firstCells) expect(cell, cell).not.toMatch(/^[=+\-@\t\r]/);
    expect(csv).toContain(`"'=HYPERLINK(""https://evil.example"",""x"")",`);
    expect(csv).toContain("'+1+1,");
    expect(csv).toContain("'-2+3,");
    expect(csv).toContain("'@SUM(A1),");
    expect(csv).toContain("'\\x09TAB,");
    expect(csv).toContain("'\\x0dCR,");
  });

  it.each([
    ["plain text", "1.10.4", "1.10.4"],
    ["a number", 42, "42"],
    ["a formula", "=1+1", "'=1+1"],
    ["a comma", "a,b", '"a,b"'],
    ["a quote", 'say "x"', '"say ""x"""'],
    ["a newline", "a\nb", "a\\x0ab"],
  ])("csvCell: %s", (_, value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it("printable shows C0, DEL, C1, bidi and zero-width controls as escapes and keeps other text", () => {
    expect(printable("a\x1b[0m\x7f\x9b\u202e\u2066b\u200b\ufeff é😀")).toBe("a\\x1b[0m\\x7f\\x9b\\u202e\\u2066b\\u200b\\ufeff é😀");
  });

  it("prints an error answer from the SQL API without its control characters", async () => {
    const server = createServer((_, res) => void res.writeHead(500).end("\x1b[2J\x1b]0;owned\x07upstream trouble"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sql`;
      const run = await runScript("infra/stats.ts", [], { ...hostileEnv(), ANALYTICS_SQL_URL: url });
      expect(run.code).toBe(2);
      expect(run.output).toContain("answered 500");
      expect(run.output).toContain("\\x1b[2J\\x1b]0;owned\\x07upstream trouble");
      expect(run.output).not.toContain("\x1b");
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
