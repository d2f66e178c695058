/**
 * What an interrupted fill may still use when its coordinator's alarm starts it again. The fill
 * was recorded with the configuration of the worker that started it; the worker running now may
 * have another (a redeploy that removed an upstream or a mirror's base, perhaps because it was
 * compromised). A fill resumes only from sources the current configuration still names.
 */

import type { Config } from "../config";
import type { FillSpec } from "./target";

export type Resumption = { resume: true; config: Config } | { resume: false; removed: string[] };

/** `stored`: the configuration the fill was recorded with; `current`: the one deployed now. */
export function resumption(stored: Config, current: Config, spec: FillSpec): Resumption {
  if (spec.kind === "tarball") {
    const upstreams = stored.upstreams.filter((u) => current.upstreams.includes(u));
    const removed = stored.upstreams.filter((u) => !current.upstreams.includes(u));
    return upstreams.length > 0 ? { resume: true, config: { ...stored, upstreams } } : { resume: false, removed };
  }
  const was = stored.binaryMirrors.find((m) => m.name === spec.mirror);
  const now = current.binaryMirrors.find((m) => m.name === spec.mirror);
  if (was && now && was.base === now.base) return { resume: true, config: { ...stored, binaryMirrors: [now] } };
  return { resume: false, removed: was ? [was.base] : [] };
}
