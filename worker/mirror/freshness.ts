/**
 * The binary mirror's freshness rule, as plain functions: which files never change, how long a
 * copy of the others is served from the bucket before the upstream is asked again, and which
 * upstream answers mean a file is gone. The worker applies it, and tells a fill coordinator the
 * lifetime it needs in the call, so no other module keeps a rule of its own.
 */

import { VERSIONS_PATH } from "./versions";

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
 * How long (seconds) a copy of the file at `path` is served from the bucket, counted from when it
 * was fetched or last found current upstream, before the upstream is asked whether it changed:
 * `ttlSeconds` (BINARY_MIRROR_TTL_SECONDS) for a file that may change, Infinity for one that cannot.
 */
export function copyLifetimeSeconds(path: string, ttlSeconds: number): number {
  return isImmutableFile(path) ? Infinity : ttlSeconds;
}

/** Until when (ms) something fetched or found current at `since` (ms) stays fresh, for a lifetime in seconds. */
export function freshUntil(since: number, lifetimeSeconds: number): number {
  return since + lifetimeSeconds * 1000;
}

/** Whether what is fresh until `until` (ms) still is at `now` (ms). */
export function isFresh(until: number, now: number): boolean {
  return until > now;
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
