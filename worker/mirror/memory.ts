/**
 * What one isolate remembers about the binary mirror between requests: which copies its
 * coordinator recently found current upstream (so a revalidated copy is not asked about again
 * until its lifetime runs out, see freshness.ts), and each mirror's versions.json index, by the
 * ETag it was read from.
 */

import { isFresh } from "./freshness";
import type { Published } from "./versions";

const MAX_REMEMBERED = 1000;

export interface VersionsIndex {
  /** The upstream ETag of the versions.json it was read from ("" when the mirror has none). */
  etag: string;
  index: Map<string, Published>;
  checkedAt: number;
  /**
   * Set while versions.json cannot be read (why): the index is the last one read, or the copy
   * served stale, and the files it does not list are not filled.
   */
  unavailable?: string;
}

export class MirrorMemory {
  private readonly confirmed = new Map<string, { bucketEtag: string; until: number }>();
  readonly versions = new Map<string, VersionsIndex>();
  readonly loading = new Map<string, Promise<VersionsIndex>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The copy with this bucket ETag was found current upstream; it stays so until `until` (ms). */
  confirm(key: string, bucketEtag: string, until: number): void {
    this.confirmed.delete(key);
    this.confirmed.set(key, { bucketEtag, until });
    if (this.confirmed.size > MAX_REMEMBERED) this.confirmed.delete(this.confirmed.keys().next().value as string);
  }

  /** Until when (ms) the copy with this bucket ETag is known current; 0 if it is not. */
  confirmedUntil(key: string, bucketEtag: string): number {
    const entry = this.confirmed.get(key);
    return entry && entry.bucketEtag === bucketEtag && isFresh(entry.until, this.now()) ? entry.until : 0;
  }
}
