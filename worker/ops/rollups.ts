/**
 * The rollups `npm run stats` (and `/meta/stats`) ask Analytics Engine for, as plain values that render to SQL over
 * the dataset's columns (worker/ops/analytics.ts). Counts and bytes are weighted by
 * `_sample_interval`, as Analytics Engine's sampling requires.
 */

/** The dataset wrangler.toml binds as ANALYTICS (the name `npm run stats` queries by default). */
export const ANALYTICS_DATASET = "pkgedge_requests";

interface Column {
  /** A column of the dataset (`blob2`, `double1`), or a time (`toDate(timestamp)`, the hour). */
  expr: string;
  as: string;
}

export interface Rollup {
  name: string;
  title: string;
  columns: Column[];
  /** Extra conditions, each `blobN = 'value'`. */
  where?: string[];
  /** Also count distinct client hashes (meaningful only with CLIENT_HASH_KEY set on the worker). */
  addresses?: boolean;
  limit?: number;
}

const KIND = "blob1";
const UUID = "blob2";
const OUTCOME = "blob4";
const JULIA_VERSION = "blob5";
const JULIA_SYSTEM = "blob6";
const CLIENT_TYPE = "blob7";
const COUNTRY = "blob10";
const COLO = "blob11";
const STATUS = "double1";
const DATE = "toDate(timestamp)";
const HOUR = "toStartOfInterval(timestamp, INTERVAL '1' HOUR)";
/** Columns that are points in time: a rollup over one is ordered by it, oldest first. */
const TIMES = [DATE, HOUR];

/** The tables printed by default: the rollups operators ask for most. */
export const TABLES: Rollup[] = [
  {
    name: "packages",
    title: "Requests and bytes per package",
    columns: [{ expr: UUID, as: "package_uuid" }],
    where: [`${KIND} = 'package'`],
    limit: 25,
  },
  { name: "julia_versions", title: "Per Julia version", columns: [{ expr: JULIA_VERSION, as: "julia_version" }], limit: 25 },
  { name: "julia_systems", title: "Per system triple", columns: [{ expr: JULIA_SYSTEM, as: "julia_system" }], limit: 25 },
  { name: "client_types", title: "CI and interactive clients", columns: [{ expr: CLIENT_TYPE, as: "client_type" }] },
  { name: "cache", title: "Cache outcomes (hit ratio)", columns: [{ expr: OUTCOME, as: "cache" }] },
  { name: "resource_types", title: "Per resource kind", columns: [{ expr: KIND, as: "resource_type" }] },
  {
    name: "regions",
    title: "Per country and colo",
    columns: [
      { expr: COUNTRY, as: "country" },
      { expr: COLO, as: "colo" },
    ],
    limit: 25,
  },
];

/** The last day's requests per hour by outcome, for the status page's chart and /meta/stats's totals. */
export const HOURLY: Rollup = {
  name: "hourly",
  title: "Per hour and cache outcome",
  columns: [
    { expr: HOUR, as: "hour" },
    { expr: OUTCOME, as: "cache" },
  ],
};

/** The CSV files written with --csv, shaped like JuliaLang's public daily rollups of its Pkg server logs. */
export const CSV_FILES: Rollup[] = [
  {
    name: "package_requests_by_date",
    title: "",
    columns: [
      { expr: UUID, as: "package_uuid" },
      { expr: STATUS, as: "status" },
      { expr: CLIENT_TYPE, as: "client_type_id" },
      { expr: DATE, as: "date" },
    ],
    where: [`${KIND} = 'package'`],
    addresses: true,
  },
  {
    name: "package_requests_by_region_by_date",
    title: "",
    columns: [
      { expr: UUID, as: "package_uuid" },
      { expr: STATUS, as: "status" },
      { expr: CLIENT_TYPE, as: "client_type_id" },
      { expr: COUNTRY, as: "region" },
      { expr: DATE, as: "date" },
    ],
    where: [`${KIND} = 'package'`],
    addresses: true,
  },
  {
    name: "julia_versions_by_date",
    title: "",
    columns: [
      { expr: JULIA_VERSION, as: "julia_version" },
      { expr: CLIENT_TYPE, as: "client_type_id" },
      { expr: DATE, as: "date" },
    ],
    addresses: true,
  },
  {
    name: "julia_systems_by_date",
    title: "",
    columns: [
      { expr: JULIA_SYSTEM, as: "julia_system" },
      { expr: CLIENT_TYPE, as: "client_type_id" },
      { expr: DATE, as: "date" },
    ],
    addresses: true,
  },
  {
    name: "resource_types_by_date",
    title: "",
    columns: [
      { expr: KIND, as: "resource_type" },
      { expr: STATUS, as: "status" },
      { expr: CLIENT_TYPE, as: "client_type_id" },
      { expr: DATE, as: "date" },
    ],
    addresses: true,
  },
];

/** The SQL for one rollup over the last `days` days. */
function rollupSql(rollup: Rollup, dataset: string, days: number): string {
  const select = [
    ...rollup.columns.map((c) => `${c.expr} AS ${c.as}`),
    ...(rollup.addresses ? ["COUNT(DISTINCT blob13) AS request_addrs"] : []),
    "SUM(_sample_interval) AS request_count",
    "SUM(_sample_interval * double2) AS body_bytes_sent",
  ];
  const where = [`timestamp > NOW() - INTERVAL '${days}' DAY`, ...(rollup.where ?? [])];
  const time = rollup.columns.find((c) => TIMES.includes(c.expr));
  const order = time ? `${time.as} ASC, request_count DESC` : "request_count DESC";
  return `SELECT ${select.join(", ")} FROM ${dataset} WHERE ${where.join(" AND ")} GROUP BY ${rollup.columns.map((c) => c.as).join(", ")} ORDER BY ${order}${rollup.limit ? ` LIMIT ${rollup.limit}` : ""} FORMAT JSON`;
}

/** The SQL API's address for an account (ANALYTICS_SQL_URL may point elsewhere, e.g. a local fake). */
export function sqlApiUrl(account: string): string {
  return `https://api.cloudflare.com/client/v4/accounts/${account}/analytics_engine/sql`;
}

export type RollupRow = Record<string, string | number>;

/** Runs one rollup through the SQL API; throws with the API's answer when it is not 200. */
export async function queryRollup(
  url: string,
  token: string,
  rollup: Rollup,
  dataset: string,
  days: number,
  timeoutMs = 60_000,
): Promise<RollupRow[]> {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: rollupSql(rollup, dataset, days),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`the SQL API answered ${res.status} for ${rollup.name}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { data: RollupRow[] }).data;
}
