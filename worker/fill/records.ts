/**
 * What a fill coordinator keeps in its Durable Object storage beside a running fill's record, and
 * for how long. A coordinator exists per resource ever asked for, so nothing is kept for good:
 * each record expires, an alarm set for the earliest expiry removes it, and a coordinator with
 * nothing left has its storage emptied.
 */

import type { Config } from "../config";
import type { Attempts } from "./attempts";
import type { FillSpec } from "./target";

/** A running fill, so that the alarm starts it again if the object is evicted (resume.ts). */
export interface Pending {
  spec: FillSpec;
  config: Config;
}

/** When the bucket's copy of a binary-mirror file (by its bucket ETag) was last found current upstream. */
export interface Checked {
  bucketEtag: string;
  at: number;
  /** When the finding is no longer trusted (`at` plus the file's lifetime, freshness.ts); absent in records of older versions. */
  expires?: number;
}

/** `${key} ${upstream}` → when that upstream stops being passed over for the key. */
type Quarantine = [string, number][];

/**
 * The zstd variant's making: when the latest attempt started, and, once it gave up (too large,
 * refused, or an attempt that never finished: the CPU limit reset the object), why.
 */
export interface VariantRecord {
  startedAt: number;
  gaveUp?: string;
}

export interface Kept {
  attempts?: Attempts;
  checked?: Checked;
  quarantine?: Quarantine;
  variant?: VariantRecord;
}

/** A variant given up on is not tried again for a week (its tarball never changes; a new deploy's limits might). */
const VARIANT_KEPT_MS = 7 * 86_400_000;

/**
 * A failed-attempt count is forgotten a day after the last failure: no backoff is longer
 * (FILL_BACKOFF_SECONDS is at most a day), so forgetting never shortens one.
 */
export const ATTEMPTS_KEPT_MS = 86_400_000;
/** Records of older versions carry no expiry: kept for the longest BINARY_MIRROR_TTL_SECONDS, a week. */
const CHECKED_KEPT_MS = 7 * 86_400_000;

function expiriesOf(kept: Kept): number[] {
  const at: number[] = [];
  if (kept.attempts) at.push(kept.attempts.lastAt + ATTEMPTS_KEPT_MS);
  if (kept.checked) at.push(kept.checked.expires ?? kept.checked.at + CHECKED_KEPT_MS);
  for (const [, expires] of kept.quarantine ?? []) at.push(expires);
  if (kept.variant) at.push(kept.variant.startedAt + VARIANT_KEPT_MS);
  return at;
}

/** What is still worth keeping at `now`: expired records, a zero count and an empty quarantine are left out. */
export function unexpired(kept: Kept, now: number): Kept {
  const out: Kept = {};
  const { attempts, checked, quarantine, variant } = kept;
  if (variant && variant.startedAt + VARIANT_KEPT_MS > now) out.variant = variant;
  if (attempts && attempts.count > 0 && attempts.lastAt + ATTEMPTS_KEPT_MS > now) out.attempts = attempts;
  if (checked && (checked.expires ?? checked.at + CHECKED_KEPT_MS) > now) out.checked = checked;
  const live = (quarantine ?? []).filter(([, expires]) => expires > now);
  if (live.length > 0) out.quarantine = live;
  return out;
}

/** When the first of these records expires; null when there are none. */
export function nextExpiry(kept: Kept): number | null {
  const at = expiriesOf(kept);
  return at.length > 0 ? Math.min(...at) : null;
}

/**
 * Removes what has expired from a coordinator's storage and sets the alarm for the next expiry;
 * with nothing left, empties it. A running fill's record and keep-alive alarm are left alone.
 */
export async function tidyStorage(storage: DurableObjectStorage, now: number): Promise<void> {
  const stored = await storage.get(["pending", "attempts", "checked", "quarantine", "variant"]);
  if (stored.has("pending")) return;
  const kept = unexpired(Object.fromEntries(stored) as Kept, now);
  const next = nextExpiry(kept);
  if (next === null) {
    await storage.deleteAlarm();
    return storage.deleteAll();
  }
  const gone = (["attempts", "checked", "quarantine", "variant"] as const).filter((name) => stored.has(name) && kept[name] === undefined);
  if (gone.length > 0) await storage.delete(gone);
  const quarantine = stored.get("quarantine") as Kept["quarantine"];
  if (kept.quarantine && kept.quarantine.length !== quarantine?.length) await storage.put("quarantine", kept.quarantine);
  await storage.setAlarm(next);
}
