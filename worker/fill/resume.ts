/**
 * What an interrupted fill may still use when its coordinator's alarm starts it again. The fill
 * was recorded with the configuration of the worker that started it; the worker running now may
 * have another (a redeploy that removed an upstream or a mirror's base, perhaps because it was
 * compromised). A fill resumes only from sources the current configuration still names.
 */

import type { Config } from "../config";
import type { FillSpec } from "./target";

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
