/**
 * One Workers Analytics Engine data point per protocol request (an optional `ANALYTICS` binding;
 * without it nothing is written). The layout is a contract with `npm run stats` (infra/stats.ts)
 * and with anyone's own SQL: every rollup JuliaLang publishes from its Pkg server logs is one
 * GROUP BY over these columns, weighted by `_sample_interval`.
 *
 *   index1   resource kind (package, artifact, registry, mirror, registries): the sampling key
 *   blob1    resource kind           blob2  package or registry UUID ("" for others)
 *   blob3    path                    blob4  cache outcome (hit, redirect, miss, joined, negative, error)
 *   blob5    Julia-Version           blob6  Julia-System
 *   blob7    client type (ci, user, "" when not a Julia client)
 *   blob8    Julia-Interactive       blob9  Julia-CI-Variables
 *   blob10   country (request.cf)    blob11 colo (request.cf)
 *   blob12   upstream used           blob13 keyed client hash ("" without CLIENT_HASH_KEY)
 *   blob14   tarball compression served (gzip, zstd; "" for other answers)
 *   double1  status                  double2 bytes sent
 *   double3  duration in ms          double4 1 if the body broke, else 0
 *
 * Analytics Engine drops a point whose blobs add up to more than 16 KB, so a client sending huge
 * Julia-* headers would vanish from the statistics: every blob is cut to MAX_BLOB_BYTES (the path
 * to MAX_PATH_BLOB_BYTES), which keeps any point within BLOBS_LIMIT_BYTES.
 */

import type { AccessRecord } from "./access-log.ts";
import { truncateUtf8 } from "./bounded-text.ts";

/** Analytics Engine's limit on the total size of one data point's blobs. */
export const BLOBS_LIMIT_BYTES = 16 * 1024;
/** Analytics Engine's limit on an index. */
export const INDEX_LIMIT_BYTES = 96;
/** Each blob is cut to this many bytes of UTF-8 (13 of them: 13 KiB at most)... */
const MAX_BLOB_BYTES = 1024;
/** ...and the path, a grouping key, to this. */
const MAX_PATH_BLOB_BYTES = 256;

/** What writeDataPoint takes (the runtime's AnalyticsEngineDataPoint), spelled out so Node tools can build one too. */
export interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

/** PkgServerLogAnalysis's client types: a CI run says so in Julia-CI-Variables (some `NAME=t`). */
function clientType(record: Pick<AccessRecord, "julia_version" | "julia_ci_variables">): "ci" | "user" | "" {
  if (record.julia_ci_variables !== null && /(^|;)[A-Z_]+=t(;|$)/.test(record.julia_ci_variables)) return "ci";
  return record.julia_version !== null ? "user" : "";
}

export function dataPoint(record: AccessRecord): DataPoint {
  const kind = record.kind ?? "other";
  const blobs = [
    kind,
    record.uuid ?? "",
    truncateUtf8(record.path, MAX_PATH_BLOB_BYTES),
    record.cache ?? "",
    record.julia_version ?? "",
    record.julia_system ?? "",
    clientType(record),
    record.julia_interactive ?? "",
    record.julia_ci_variables ?? "",
    record.country ?? "",
    record.colo ?? "",
    record.upstream ?? "",
    record.client ?? "",
    record.encoding ?? "",
  ];
  return {
    indexes: [truncateUtf8(kind, INDEX_LIMIT_BYTES)],
    blobs: blobs.map((b) => truncateUtf8(b, MAX_BLOB_BYTES)),
    doubles: [record.status, record.bytes ?? 0, record.duration_ms, record.broken ? 1 : 0],
  };
}
