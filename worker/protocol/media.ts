/**
 * What the protocol's answers are (protocol.md §3.1, §4): their content types and how long clients and
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

/**
 * Types a mirrored file keeps as its bucket gave them: JSON, plain text and archives or binaries,
 * none of which a browser runs or renders as a page.
 */
const INERT_TYPES = new Set([
  "application/json",
  "text/plain",
  "application/octet-stream",
  "binary/octet-stream",
  "application/gzip",
  "application/x-gzip",
  "application/x-tar",
  "application/x-xz",
  "application/x-bzip2",
  "application/zstd",
  "application/zip",
  "application/x-zip-compressed",
  "application/x-apple-diskimage",
  "application/x-msdownload",
  "application/x-msdos-program",
  "application/vnd.microsoft.portable-executable",
  "application/pgp-signature",
  "application/pgp-keys",
]);

const PLAIN_TYPE_RE = /^[a-z0-9.+-]+\/[a-z0-9.+-]+(?:; ?charset=[a-z0-9_-]+)?$/i;

/**
 * The Content-Type a mirrored file is served with: its bucket's, when it is inert and plainly
 * written; anything else (HTML, SVG, XML, scripts, odd parameters) as application/octet-stream,
 * so no file a bucket holds, or an upstream was made to serve, runs as a page on pkgedge's origin.
 */
export function servedContentType(upstreamType: string | undefined): string {
  const type = upstreamType?.trim() ?? "";
  const essence = type.split(";")[0]!.trim().toLowerCase();
  if (!INERT_TYPES.has(essence)) return UNTYPED_CONTENT_TYPE;
  return PLAIN_TYPE_RE.test(type) ? type : essence;
}

/** Every answer says its Content-Type is to be believed: browsers must not sniff another. */
export const NOSNIFF = "nosniff";
