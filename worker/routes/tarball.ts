/**
 * Responses for content-addressed tarballs (protocol.md §3.1, §4): from the bucket on a hit, streamed
 * from upstream on a miss. The body is the gzip tarball itself, or for a client that asks for zstd
 * its zstd variant (§4.4), never an HTTP content coding, so there is never a Content-Encoding, and
 * `no-transform` keeps intermediaries from adding one.
 */

import type { Resource } from "../protocol/paths";
import { answerFromInfo, answerWhole, askedOf, fillRange, type Presentation } from "./stored";
import { absent, coldHead, fillAnswer, hit, upstreamFailed, verifiedMiss } from "./answers";
import type { Streamed } from "../fill/coordinator-calls";
import type { ObjectInfo } from "../store/store";
import { IMMUTABLE, TARBALL_CONTENT_TYPE } from "../protocol/media";
import type { RequestDeps } from "../runtime";
import { acceptsZstd, clientAcceptEncoding } from "../protocol/encoding";
import { ZSTD_CONTENT_TYPE, zstdKey } from "../variants/zstd-variant";
import { log } from "../log";
import { redirectIfStored } from "./redirect";

function baseHeaders(): Headers {
  return new Headers({ "content-type": TARBALL_CONTENT_TYPE, "accept-ranges": "bytes", "cache-control": IMMUTABLE });
}

function storedHeaders(obj: ObjectInfo): Headers {
  const h = baseHeaders();
  h.set("etag", obj.etag);
  h.set("last-modified", obj.uploaded.toUTCString());
  return h;
}

/** Content-addressed: the bytes under a tarball's key never change. */
const TARBALL: Presentation = { headers: storedHeaders, immutable: true };

/** A tarball's zstd variant (protocol.md §4.4): its own type and ETag, the same immutability. */
function variantHeaders(obj: ObjectInfo): Headers {
  const h = storedHeaders(obj);
  h.set("content-type", ZSTD_CONTENT_TYPE);
  return h;
}

/**
 * With zstd variants a tarball has two representations that usually share a Last-Modified second
 * (the variant is made right after the gzip copy), so a date says nothing about which one a client
 * holds: If-Range is then judged by the ETag alone, or a gzip prefix would be completed with zstd.
 */
const NEGOTIATED_TARBALL: Presentation = { headers: storedHeaders, immutable: false };
const VARIANT: Presentation = { headers: variantHeaders, immutable: false };

/**
 * A tarball, as gzip or, to a client whose Accept-Encoding names zstd, as its zstd variant when
 * the bucket holds one. Neither is a content coding. With ZSTD on, a zstd client answered with
 * gzip has the variant made in the background for the clients after it. With STORED_REDIRECT_BASE,
 * a GET of a stored copy is redirected to the bucket's public domain instead (redirect.ts).
 */
export async function serveTarball(deps: RequestDeps, resource: Resource, request: Request): Promise<Response> {
  const mode = deps.config.zstd.mode;
  const zstd = mode !== "off" && acceptsZstd(clientAcceptEncoding(request));
  // An If-Range is judged here (by ETag alone on a negotiated tarball, see NEGOTIATED_TARBALL): the
  // bucket's domain would take a date, which both copies of a tarball may share.
  const base = request.method === "GET" && !request.headers.has("if-range") ? deps.config.storedRedirectBase : null;
  const redirect = base !== null ? await redirectIfStored(deps, base, resource, zstd) : null;
  // Not redirected: the bucket held neither copy a moment ago, so the variant is not asked for again.
  const variant = zstd && base === null ? await serveVariant(deps, resource, request) : null;
  const answer = redirect ?? (variant || (await serveGzip(deps, resource, request)));
  if (mode !== "off" && answer.status < 400) answer.headers.set("vary", "accept-encoding");
  if (!redirect && answer.status < 400) deps.note.encoding = answer.headers.get("content-type") === ZSTD_CONTENT_TYPE ? "zstd" : "gzip";
  // A GET answered with gzip: a HEAD (a cold one fills nothing) does not start the work.
  if (zstd && mode === "on" && request.method === "GET" && answer.status < 400 && deps.note.encoding !== "zstd") {
    deps.waitUntil(deps.fills.transcode(resource).catch((err) => log("warn", "zstd_failed", { key: resource.key, detail: String(err) })));
  }
  return answer;
}

/** The variant from the bucket, or null when it holds none. */
async function serveVariant(deps: RequestDeps, resource: Resource, request: Request): Promise<Response | null> {
  const asked = askedOf(request);
  const key = zstdKey(resource.key);
  if (asked.head || asked.rangeHeader !== null) {
    const info = await deps.store.head(key);
    const answer = info && (await answerFromInfo(deps.store, info, VARIANT, asked));
    return answer ? hit(deps, answer) : null;
  }
  const obj = await deps.store.get(key);
  return obj && hit(deps, await answerWhole(obj, variantHeaders(obj), obj.etag, asked.ifNoneMatch));
}

async function serveGzip(deps: RequestDeps, resource: Resource, request: Request): Promise<Response> {
  const asked = askedOf(request);
  // Hit path. A plain GET is one bucket read; HEAD and ranged GETs read the metadata first.
  if (asked.head || asked.rangeHeader !== null) {
    const info = await deps.store.head(resource.key);
    const shown = deps.config.zstd.mode === "off" ? TARBALL : NEGOTIATED_TARBALL;
    const answer = info && (await answerFromInfo(deps.store, info, shown, asked));
    if (answer) return hit(deps, answer); // null: deleted between head and get
  } else {
    const obj = await deps.store.get(resource.key);
    if (obj) return hit(deps, await answerWhole(obj, storedHeaders(obj), obj.etag, asked.ifNoneMatch));
  }
  return asked.head ? headOnMiss(deps, resource) : getOnMiss(deps, resource, request);
}

/**
 * A cold HEAD answers from the resource's coordinator, which remembers the upstream it found so
 * the GET that follows is filled from it and has the same Content-Length (protocol.md §6.3.7).
 */
async function headOnMiss(deps: RequestDeps, resource: Resource): Promise<Response> {
  const located = await deps.fills.locate(resource);
  if (!located.found) return located.unavailable ? upstreamFailed(deps, resource.key, located) : absent(deps);
  return coldHead(deps, baseHeaders(), located.length, null);
}

/**
 * A miss streams from the resource's fill. A whole GET of a package or registry waits, within
 * VERIFY_FIRST_PATIENCE_MS and for objects up to VERIFY_FIRST_MAX_BYTES, until a fill verified and
 * stored the object (trying the next upstream when one's bytes fail), and is answered from that
 * copy: a verified 200 or an error status, never a broken body, since Pkg does not retry a
 * package download (design.md, "Verify before the first byte"). A range on a cold resource
 * (protocol.md C20, E17) is cut from the running fill against the length the fill really has;
 * since its bytes are not yet verified when its headers go out, it is never marked immutable (its
 * end is held back until the verdict).
 */
async function getOnMiss(deps: RequestDeps, resource: Resource, request: Request): Promise<Response> {
  const asked = askedOf(request);
  const range = fillRange(asked);
  // Artifacts stream as they fill: Pkg makes up to three attempts and then tries the download URLs Artifacts.toml lists (protocol.md §8.5).
  const waits = range === null && resource.kind !== "artifact";
  const fill = waits ? await deps.fills.streamVerified(resource) : await deps.fills.stream(resource, range);
  if (fill.kind !== "verified") return answerFill(deps, resource, request, fill);
  const obj = await deps.store.get(resource.key);
  if (obj) return verifiedMiss(deps, await answerWhole(obj, storedHeaders(obj), obj.etag, asked.ifNoneMatch), fill.upstream, fill.joined);
  // Gone from the bucket just after it was stored (an operator's purge): answered as a streamed miss.
  return answerFill(deps, resource, request, await deps.fills.stream(resource, null));
}

async function answerFill(deps: RequestDeps, resource: Resource, request: Request, fill: Streamed): Promise<Response> {
  if (fill.kind === "not-found") return absent(deps);
  if (fill.kind === "in-bucket") return serveGzip(deps, resource, request);
  if (fill.kind === "upstream-failed") return upstreamFailed(deps, resource.key, fill);
  return fillAnswer(deps, fill, baseHeaders());
}
