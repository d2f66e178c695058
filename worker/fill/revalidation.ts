/**
 * What the upstream's answer to a binary-mirror revalidation means for the copy in the bucket:
 * a 4xx that does not prove the file gone keeps it (served stale); a 404 or 410 removes it.
 */

import type { Config } from "../config";
import type { ObjectStore } from "../store/store";
import { statusInWords } from "../upstream/upstream";
import type { FillTarget } from "./target";
import { log } from "../log";

/** Another 4xx (403, 401, 400, or any on versions.json) does not prove the file gone: the copy is kept and served stale. */
export function copyKept(config: Config, target: FillTarget, status: number) {
  return {
    kind: "upstream-failed" as const,
    detail: `${target.upstreams[0]}: GET answered ${statusInWords(status)}`,
    retryAfterSeconds: config.failureTtlSeconds,
  };
}

/**
 * The upstream no longer has the file: neither does the mirror. A copy the bucket failed to delete
 * stays stale, and the next request asks again: the answer is the upstream's either way, never a
 * bucket error thrown back through the call.
 */
export async function removeCopy(store: ObjectStore, key: string, status: number | undefined): Promise<void> {
  try {
    await store.delete(key);
    log("info", "mirror_removed", { key, status });
  } catch (err) {
    log("warn", "mirror_remove_failed", { key, reason: err instanceof Error ? err.message : String(err) });
  }
}
