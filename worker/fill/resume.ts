/**
 * What an interrupted fill may still use when its coordinator's alarm starts it again. The fill
 * was recorded with the configuration of the worker that started it; the worker running now may
 * have another (a redeploy that removed an upstream or a mirror's base, perhaps because it was
 * compromised). A fill resumes only from sources the current configuration still names.
 */

import type { Config } from "../config";
import { targetFor, type FillSpec, type FillTarget } from "./target";
import type { Pending } from "./records";
import { log } from "../log";

export type Resumption = { resume: true; config: Config } | { resume: false; removed: string[] };

/**
 * `stored`: the configuration the fill was recorded with; `current`: the one deployed now. The
 * sources are narrowed to those both name, and what the fill may accept to the stricter of the
 * two limits; the rest (the bucket, the attempt count's limits) stays as the fill was started.
 */
export function resumption(stored: Config, current: Config, spec: FillSpec): Resumption {
  const limits = {
    fillMaxBytes: Math.min(stored.fillMaxBytes, current.fillMaxBytes),
    verifyMaxEntries: Math.min(stored.verifyMaxEntries, current.verifyMaxEntries),
    verifyMaxRatio: Math.min(stored.verifyMaxRatio ?? current.verifyMaxRatio, current.verifyMaxRatio),
    verifyMaxDecompressedBytes: Math.min(
      stored.verifyMaxDecompressedBytes ?? current.verifyMaxDecompressedBytes,
      current.verifyMaxDecompressedBytes,
    ),
  };
  if (spec.kind === "tarball") {
    const upstreams = stored.upstreams.filter((u) => current.upstreams.includes(u));
    const removed = stored.upstreams.filter((u) => !current.upstreams.includes(u));
    return upstreams.length > 0 ? { resume: true, config: { ...stored, ...limits, upstreams } } : { resume: false, removed };
  }
  const was = stored.binaryMirrors.find((m) => m.name === spec.mirror);
  const now = current.binaryMirrors.find((m) => m.name === spec.mirror);
  if (was && now && was.base === now.base) return { resume: true, config: { ...stored, ...limits, binaryMirrors: [now] } };
  return { resume: false, removed: was ? [was.base] : [] };
}

/**
 * The fill `pending` recorded, as it may resume under the configuration deployed now (`current`,
 * which throws if that configuration is broken); null, logged, when it may not.
 */
export function resumedFill(pending: Pending, current: () => Config): { config: Config; target: FillTarget } | null {
  try {
    const resumed = resumption(pending.config, current(), pending.spec);
    if (!resumed.resume) {
      log("warn", "fill_resume_dropped", { spec: pending.spec, removed: resumed.removed });
      return null;
    }
    return { config: resumed.config, target: targetFor(resumed.config, pending.spec) };
  } catch (err) {
    // Written by an older version, or the deployed configuration is broken (the worker answers 500 then).
    log("warn", "fill_resume_dropped", { spec: pending.spec, error: err instanceof Error ? err.message : String(err) });
    return null;
  }
}
