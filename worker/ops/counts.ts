/**
 * What this isolate has answered since it started, by cache outcome, for `/meta/stats` and the
 * status page. Per isolate only (Workers run many); Analytics Engine has the whole picture.
 */

import type { AccessRecord, CacheOutcome } from "./access-log";

export class RequestCounts {
  readonly since = new Date();
  requests = 0;
  broken = 0;
  readonly outcomes: Record<CacheOutcome, number> = { hit: 0, miss: 0, joined: 0, negative: 0, error: 0 };
  bytesSent = 0;
  /** Bytes of the misses that started a fill: what came from upstream to this isolate's requesters. */
  bytesFilled = 0;
  /** Tarballs answered (200, 206) by how they were compressed. */
  readonly encodings = { gzip: 0, zstd: 0 };

  add(record: AccessRecord): void {
    this.requests++;
    if (record.broken) this.broken++;
    if (record.cache) this.outcomes[record.cache]++;
    this.bytesSent += record.bytes ?? 0;
    if (record.cache === "miss") this.bytesFilled += record.bytes ?? 0;
    if (record.encoding && (record.status === 200 || record.status === 206)) this.encodings[record.encoding]++;
  }
}
