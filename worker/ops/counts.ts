/**
 * What this isolate has answered since it started, by cache outcome, for `/meta/stats` and the
 * status page. Per isolate only (Workers run many); Analytics Engine has the whole picture.
 */

import type { AccessRecord, CacheOutcome } from "./access-log";

export const HOUR_MS = 3_600_000;
/** The status page's chart spans this many hours; older hours are dropped. */
export const HOURS_KEPT = 24;

/** Requests of one hour by outcome, and the body bytes sent; `at` is the hour's start (ms since the epoch, UTC). */
export interface HourCounts {
  at: number;
  outcomes: Record<CacheOutcome, number>;
  bytes: number;
}

export function noOutcomes(): Record<CacheOutcome, number> {
  return { hit: 0, redirect: 0, miss: 0, joined: 0, negative: 0, error: 0 };
}

export class RequestCounts {
  readonly since = new Date();
  requests = 0;
  broken = 0;
  readonly outcomes = noOutcomes();
  bytesSent = 0;
  /** Bytes of the misses that started a fill: what came from upstream to this isolate's requesters. */
  bytesFilled = 0;
  /** Tarballs answered (200, 206, or a redirect to the bucket's domain) by how they were compressed. */
  readonly encodings = { gzip: 0, zstd: 0 };
  /** The last HOURS_KEPT hours with any request that had an outcome, oldest first. */
  private readonly hours: HourCounts[] = [];

  add(record: AccessRecord, now = Date.now()): void {
    this.requests++;
    if (record.broken) this.broken++;
    if (record.cache) {
      this.outcomes[record.cache]++;
      const hour = this.hour(now);
      hour.outcomes[record.cache]++;
      hour.bytes += record.bytes ?? 0;
    }
    this.bytesSent += record.bytes ?? 0;
    if (record.cache === "miss") this.bytesFilled += record.bytes ?? 0;
    if (record.encoding && (record.status === 200 || record.status === 206 || record.cache === "redirect"))
      this.encodings[record.encoding]++;
  }

  /** The hours of the last day this isolate saw requests in, oldest first. */
  lastDay(now = Date.now()): HourCounts[] {
    const first = hourStart(now) - (HOURS_KEPT - 1) * HOUR_MS;
    return this.hours.filter((h) => h.at >= first);
  }

  private hour(now: number): HourCounts {
    const at = hourStart(now);
    const last = this.hours.at(-1);
    if (last && last.at === at) return last;
    const fresh = { at, outcomes: noOutcomes(), bytes: 0 };
    this.hours.push(fresh);
    while (this.hours.length > HOURS_KEPT || this.hours[0]!.at <= at - HOURS_KEPT * HOUR_MS) this.hours.shift();
    return fresh;
  }
}

export function hourStart(ms: number): number {
  return ms - (ms % HOUR_MS);
}
