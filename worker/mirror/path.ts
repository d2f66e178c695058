/**
 * The binary mirror's path grammar and freshness rule, as plain functions over strings.
 *
 * `/mirror/<name>/<path>` is matched raw, never decoded: `<path>` is one or more segments of a
 * conservative character set, so nothing that could mean another file upstream (`..`, `%2F`,
 * `\`, empty segments) ever reaches the bucket or the upstream, and the upstream URL is always the
 * configured base plus `/` plus this exact path.
 */

import { VERSIONS_PATH } from "./versions";

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

/** A version number as release file names carry it: 1.10.4, 1.11.0-rc2, 0.7.0-beta2. */
const VERSION_RE = /(^|[^0-9.])\d+\.\d+\.\d+([^0-9]|$)/;

/**
 * Whether a file never changes once published: a release file, named with its version number
 * (`bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz`, and its `.asc`). Everything else may
 * change under the same name and is revalidated: `versions.json`, juliaup's pointer files and
 * version databases (whatever their names), nightlies (named `latest`, by commit, or `-DEV`), and
 * anything named `latest`.
 */
export function isImmutableFile(path: string): boolean {
  if (path.startsWith("juliaup/")) return false;
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (/latest|nightly|-DEV/i.test(name)) return false;
  return VERSION_RE.test(name);
}

/**
 * Whether the upstream's answer to revalidating a copy means the file is gone, so the copy goes
 * too. Only 404 and 410 say that. A 403 is what a bucket with a private list answers for a removed
 * file, but also what a WAF, an expired grant or a transient permission error answers, so it never
 * removes a copy (it is served stale). versions.json is never removed by an answer at all: every
 * release file's check rests on it, and a publisher that really withdraws it cannot be told from
 * one that is misconfigured for a while, so its copy is kept and served stale, and the release
 * files it does not list are not filled, until it is back (or an operator deletes the copy).
 */
export function answerRemovesCopy(path: string, status: number): boolean {
  return (status === 404 || status === 410) && path !== VERSIONS_PATH;
}
