/**
 * What the protocol's answers are (spec §3.1, §4): their content types and how long clients and
 * intermediaries may keep them. Tarballs are immutable and never re-encoded in transit; the
 * registry list changes and is kept briefly; failures are never kept.
 */

/** A tarball's body is the gzip file itself, not an HTTP content coding. */
export const TARBALL_CONTENT_TYPE = "application/x-gzip";
export const REGISTRY_LIST_CONTENT_TYPE = "text/plain";
/** Anything the protocol does not type, such as a mirrored file its bucket did not type. */
export const UNTYPED_CONTENT_TYPE = "application/octet-stream";

/** Content-addressed or versioned: the same name never holds different bytes. */
export const IMMUTABLE = "public, max-age=31536000, immutable, no-transform";
/** The registry list: shared caches may hold it briefly, so the list stays about a minute fresh. */
export const REGISTRY_LIST_CACHE_CONTROL = "public, max-age=30";
/** Failures and answers that must not be reused. */
export const NO_STORE = "no-store";

/** A changing file that may be kept for the rest of its freshness window. */
export function keepFor(seconds: number): string {
  return `public, max-age=${Math.max(0, Math.floor(seconds))}, no-transform`;
}
