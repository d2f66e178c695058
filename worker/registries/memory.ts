/** What the registry refresh remembers between rounds in one isolate (never in the bucket). */

/**
 * Per isolate: hashes an origin said it does not know (kept an hour, so a hostile listing costs one
 * check an hour), and registry tarballs that could not be stored (kept ten minutes, so a round's
 * fills go to candidates not yet tried rather than the same broken ones every minute).
 */
export class RefreshMemory {
  private readonly unknown = new Map<string, number>();
  private readonly unstorable = new Map<string, number>();

  saidNo(hash: string): boolean {
    return fresh(this.unknown, hash);
  }

  rememberNo(hash: string): void {
    remember(this.unknown, hash, 3600_000);
  }

  couldNotStore(hash: string): boolean {
    return fresh(this.unstorable, hash);
  }

  rememberUnstorable(hash: string): void {
    remember(this.unstorable, hash, 600_000);
  }
}

function fresh(map: Map<string, number>, key: string): boolean {
  const until = map.get(key);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  map.delete(key);
  return false;
}

function remember(map: Map<string, number>, key: string, ms: number): void {
  map.set(key, Date.now() + ms);
  while (map.size > 1000) map.delete(map.keys().next().value as string);
}
