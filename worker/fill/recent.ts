/**
 * What this isolate learnt from upstream recently, per key: which upstreams have it (so a HEAD and
 * the GET after it use the same upstream, and so the same Content-Length), that none has it (so a
 * storm of requests for a missing resource does not hammer upstream), and which upstream served
 * bytes that failed verification (so the next request fills from another one).
 */

import type { UpstreamHit } from "../upstream/upstream";

interface Entry {
  expires: number;
  hits: UpstreamHit[] | null; // null: no upstream has it
}

const MAX_ENTRIES = 10_000;

export class RecentLookups {
  private readonly probes = new Map<string, Entry>();
  private readonly quarantined = new Map<string, number>(); // `${key} ${upstream}` → expiry

  constructor(private readonly now: () => number = Date.now) {}

  /** undefined: nothing fresh is known; null: known missing; otherwise the upstreams that have it. */
  lookup(key: string): UpstreamHit[] | null | undefined {
    const entry = this.probes.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.probes.delete(key);
      return undefined;
    }
    return entry.hits;
  }

  remember(key: string, hits: UpstreamHit[] | null, ttlSeconds: number): void {
    if (ttlSeconds <= 0) return;
    this.probes.delete(key);
    this.probes.set(key, { expires: this.now() + ttlSeconds * 1000, hits });
    trim(this.probes);
  }

  forget(key: string): void {
    this.probes.delete(key);
  }

  quarantine(key: string, upstream: string, ttlSeconds: number): void {
    this.quarantined.set(`${key} ${upstream}`, this.now() + ttlSeconds * 1000);
    trim(this.quarantined);
  }

  isQuarantined(key: string, upstream: string): boolean {
    const expires = this.quarantined.get(`${key} ${upstream}`);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.quarantined.delete(`${key} ${upstream}`);
    return false;
  }
}

/** Maps iterate in insertion order, so the first entries are the oldest. */
function trim<V>(map: Map<string, V>): void {
  while (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next().value as string;
    map.delete(oldest);
  }
}
