/**
 * The binary mirror's path grammar, as plain functions over strings (its freshness rule is
 * freshness.ts).
 *
 * `/mirror/<name>/<path>` is matched raw, never decoded: `<path>` is one or more segments of a
 * conservative character set, so nothing that could mean another file upstream (`..`, `%2F`,
 * `\`, empty segments) ever reaches the bucket or the upstream, and the upstream URL is always the
 * configured base plus `/` plus this exact path.
 */

/** Longer paths are not files of the Julia buckets (their longest names are under 120 characters). */
export const MAX_MIRROR_PATH = 512;

const SEGMENT_RE = /^[A-Za-z0-9._+~-]+$/;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface MirrorFile {
  /** The mirror's configured name. */
  mirror: string;
  /** The path inside the mirrored bucket, without a leading slash. */
  path: string;
  /** The bucket key of pkgedge's copy. */
  key: string;
}

export function mirrorKey(mirror: string, path: string): string {
  return `mirror/${mirror}/${path}`;
}

/** Parses `/mirror/<name>/<path>`; null for anything else (including every malformed path). */
export function parseMirrorPath(raw: string): MirrorFile | null {
  if (!raw.startsWith("/mirror/")) return null;
  const rest = raw.slice("/mirror/".length);
  const slash = rest.indexOf("/");
  if (slash < 0) return null;
  const mirror = rest.slice(0, slash);
  const path = rest.slice(slash + 1);
  if (!NAME_RE.test(mirror) || path.length === 0 || path.length > MAX_MIRROR_PATH) return null;
  for (const segment of path.split("/")) {
    if (!SEGMENT_RE.test(segment) || segment === "." || segment === "..") return null;
  }
  return { mirror, path, key: mirrorKey(mirror, path) };
}
