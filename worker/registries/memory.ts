/** What the registry refresh remembers between rounds in one isolate (never in the bucket). */

import type { ContentOrder } from "./content-order";
import type { HistoryRead } from "./history";

/**
 * Per isolate: hashes an origin said it does not know (kept an hour, so a hostile listing costs one
 * check an hour), registry tarballs that could not be stored (kept ten minutes, so a round's
 * fills go to candidates not yet tried rather than the same broken ones every minute), hashes a
 * fresh read of the history did not hold (ten minutes, so a listing no history knows costs one read
 * in ten minutes), and how two snapshots compare by content (it never changes).
 */
export class RefreshMemory {
  private readonly unknown = new Map<string, number>();
  private readonly unstorable = new Map<string, number>();
  private readonly unhistoried = new Map<string, number>();
  private readonly compared = new Map<string, ContentOrder>();
  private readonly historyReads = new Map<string, Promise<HistoryRead>>();

  /** `now`: the clock (ms) the periods are counted on. */
  constructor(private readonly now: () => number = Date.now) {}

  notInHistory(hash: string): boolean {
    return fresh(this.unhistoried, hash, this.now());
  }

  rememberNotInHistory(hash: string): void {
    remember(this.unhistoried, hash, this.now() + 600_000);
  }

  /**
   * A registry's history read, shared by the refreshes of both flavors in this isolate (the cron
   * refreshes them at once): while one is in flight, the other waits for it instead of asking too.
   */
  historyRead(uuid: string, read: () => Promise<HistoryRead>): Promise<HistoryRead> {
    const running = this.historyReads.get(uuid);
    if (running) return running;
    const started = read().finally(() => this.historyReads.delete(uuid));
    this.historyReads.set(uuid, started);
    return started;
  }

  contentOrder(published: string, candidate: string): ContentOrder | undefined {
    return this.compared.get(`${published}:${candidate}`);
  }

  rememberContentOrder(published: string, candidate: string, order: ContentOrder): void {
    this.compared.set(`${published}:${candidate}`, order);
    while (this.compared.size > 1000) this.compared.delete(this.compared.keys().next().value as string);
  }

  saidNo(hash: string): boolean {
    return fresh(this.unknown, hash, this.now());
  }

  rememberNo(hash: string): void {
    remember(this.unknown, hash, this.now() + 3600_000);
  }

  couldNotStore(hash: string): boolean {
    return fresh(this.unstorable, hash, this.now());
  }

  rememberUnstorable(hash: string): void {
    remember(this.unstorable, hash, this.now() + 600_000);
  }
}

function fresh(map: Map<string, number>, key: string, now: number): boolean {
  const until = map.get(key);
  if (until === undefined) return false;
  if (until > now) return true;
  map.delete(key);
  return false;
}

function remember(map: Map<string, number>, key: string, until: number): void {
  map.set(key, until);
  while (map.size > 1000) map.delete(map.keys().next().value as string);
}
