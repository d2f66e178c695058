/**
 * What a resource's coordinator learnt from upstream recently: which upstreams have it (so a HEAD
 * and the GET after it use the same upstream, and so the same Content-Length), that every upstream
 * said it does not (so a storm of requests for a missing resource costs one probe per TTL), that
 * the upstreams could not be asked (remembered only briefly: it is not an answer), and which
 * upstream served bad bytes or dribbled (passed over for a while, and kept in storage).
 */

import type { UpstreamHit } from "../upstream/upstream";

/** `status`: what the upstream answered for an absent binary-mirror file (404, or 403 from a bucket that hides its list). */
export type Recollection =
  | { kind: "hits"; hits: UpstreamHit[] }
  | { kind: "absent"; status?: number }
  | { kind: "unavailable"; errors: string[] };

interface Entry {
  expires: number;
  value: Recollection;
}

/** Held by one resource's coordinator: one key's entries, and one quarantine entry per upstream at most. */
export class RecentLookups {
  private readonly probes = new Map<string, Entry>();
  private readonly quarantined = new Map<string, number>(); // `${key} ${upstream}` → expiry
  private readonly wholeOnly = new Map<string, number>(); // key → expiry

  constructor(private readonly now: () => number = Date.now) {}

  /** What is fresh in memory about `key`, if anything. */
  lookup(key: string): Recollection | undefined {
    const entry = this.probes.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.probes.delete(key);
      return undefined;
    }
    return entry.value;
  }

  remember(key: string, value: Recollection, ttlSeconds: number): void {
    this.probes.delete(key);
    if (ttlSeconds <= 0) return;
    this.probes.set(key, { expires: this.now() + ttlSeconds * 1000, value });
  }

  forget(key: string): void {
    this.probes.delete(key);
  }

  quarantine(key: string, upstream: string, ttlSeconds: number): void {
    this.quarantined.set(`${key} ${upstream}`, this.now() + ttlSeconds * 1000);
  }

  isQuarantined(key: string, upstream: string): boolean {
    const expires = this.quarantined.get(`${key} ${upstream}`);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.quarantined.delete(`${key} ${upstream}`);
    return false;
  }

  /**
   * The key's next fills come whole from one upstream, not continued from another: a continued
   * fill failed its check, and only a whole body can say whose bytes were wrong. Kept in memory
   * only: forgetting it costs at most one more continued attempt.
   */
  fillWhole(key: string, ttlSeconds: number): void {
    this.wholeOnly.set(key, this.now() + ttlSeconds * 1000);
  }

  mayContinue(key: string): boolean {
    const expires = this.wholeOnly.get(key);
    if (expires === undefined) return true;
    if (expires > this.now()) return false;
    this.wholeOnly.delete(key);
    return true;
  }

  /** The quarantine, to be kept where it outlives this memory (a coordinator's storage). */
  quarantineEntries(): [string, number][] {
    const now = this.now();
    return [...this.quarantined].filter(([, expires]) => expires > now);
  }

  restoreQuarantine(entries: [string, number][]): void {
    for (const [k, expires] of entries) this.quarantined.set(k, expires);
  }
}
