/**
 * Responses for content-addressed tarballs (spec §3.1, §4): from the bucket on a hit, streamed
 * from upstream on a miss. The body is the gzip tarball itself, never an HTTP content coding, so
 * there is never a Content-Encoding, and `no-transform` keeps intermediaries from adding one.
 */

import type { Resource } from "./grammar";
import { parseRange } from "./range";
import { ifNoneMatchHits } from "./conditional";
import type { ObjectBody, ObjectInfo } from "../store/store";
import { withLength } from "../streams/bytes";
import { TARBALL_CONTENT_TYPE } from "../fill/fill";
import type { MirrorDeps } from "../runtime";
import type { Unavailable } from "../fill/fills";
import { log } from "../log";

const IMMUTABLE = "public, max-age=31536000, immutable, no-transform";
const NO_STORE = "no-store";

function baseHeaders(): Headers {
  return new Headers({ "content-type": TARBALL_CONTENT_TYPE, "accept-ranges": "bytes", "cache-control": IMMUTABLE });
}

function storedHeaders(obj: ObjectInfo): Headers {
  const h = baseHeaders();
  h.set("etag", obj.etag);
  h.set("last-modified", obj.uploaded.toUTCString());
  return h;
}

export function notFound(): Response {
  return new Response(null, { status: 404, headers: { "cache-control": NO_STORE } });
}

function unsatisfiable(size: number, headers: Headers): Response {
  headers.set("content-range", `bytes */${size}`);
  headers.set("cache-control", NO_STORE);
  return new Response(null, { status: 416, headers });
}

/** A bucket body as the response body: as it is when it carries its length (the fast path of a hit). */
function stored(obj: ObjectBody, length: number): ReadableStream<Uint8Array> {
  return obj.lengthKnown ? obj.body : withLength(obj.body, length);
}

export async function serveTarball(deps: MirrorDeps, resource: Resource, request: Request): Promise<Response> {
  const head = request.method === "HEAD";
  const rangeHeader = request.headers.get("range");
  const ifNoneMatch = request.headers.get("if-none-match");

  // Hit path. A plain GET is one bucket read; HEAD and ranged GETs read the metadata first.
  if (head || rangeHeader !== null) {
    const info = await deps.store.head(resource.key);
    if (info) return serveStoredRange(deps, resource, info, head, rangeHeader, ifNoneMatch);
  } else {
    const obj = await deps.store.get(resource.key);
    if (obj) {
      const headers = storedHeaders(obj);
      if (ifNoneMatchHits(ifNoneMatch, obj.etag)) {
        await obj.body.cancel();
        return new Response(null, { status: 304, headers });
      }
      headers.set("content-length", String(obj.size));
      return new Response(stored(obj, obj.size), { headers });
    }
  }

  return head ? headOnMiss(deps, resource) : getOnMiss(deps, resource, rangeHeader);
}

async function serveStoredRange(
  deps: MirrorDeps,
  resource: Resource,
  info: ObjectInfo,
  head: boolean,
  rangeHeader: string | null,
  ifNoneMatch: string | null,
): Promise<Response> {
  const headers = storedHeaders(info);
  if (ifNoneMatchHits(ifNoneMatch, info.etag)) return new Response(null, { status: 304, headers });
  const range = parseRange(rangeHeader, info.size);
  if (range.kind === "unsatisfiable") return unsatisfiable(info.size, headers);
  const [status, start, length] = range.kind === "partial" ? [206, range.start, range.end - range.start + 1] : [200, 0, info.size];
  if (status === 206) headers.set("content-range", `bytes ${start}-${start + length - 1}/${info.size}`);
  headers.set("content-length", String(length));
  if (head) return new Response(null, { status, headers });
  const obj = await deps.store.get(resource.key, { offset: start, length });
  if (!obj) return getOnMiss(deps, resource, rangeHeader); // deleted between head and get
  return new Response(stored(obj, length), { status, headers });
}

/**
 * An upstream outage is not an absence (Pkg, downstream caches and operators read 404 as "this does
 * not exist"): 502, never stored, with a short Retry-After, naming the cause.
 */
function upstreamFailed(deps: MirrorDeps, resource: Resource, failure: Unavailable): Response {
  log("warn", "upstream_failed", { key: resource.key, detail: failure.detail });
  deps.noteFailure(resource.key, failure.detail);
  return Response.json(
    { error: "no upstream could serve this resource just now", key: resource.key, detail: failure.detail },
    { status: 502, headers: { "cache-control": NO_STORE, "retry-after": String(failure.retryAfterSeconds) } },
  );
}

/**
 * A cold HEAD answers from the resource's coordinator, which remembers the upstream it found so
 * the GET that follows is filled from it and has the same Content-Length (spec §6.3.7).
 */
async function headOnMiss(deps: MirrorDeps, resource: Resource): Promise<Response> {
  const located = await deps.fills.locate(resource);
  if (!located.found) return located.unavailable ? upstreamFailed(deps, resource, located) : notFound();
  const headers = baseHeaders();
  headers.set("x-cache-miss", "miss");
  if (located.length !== undefined) headers.set("content-length", String(located.length));
  return new Response(null, { headers });
}

/**
 * A miss streams from the resource's fill. A range on a cold resource (spec C20, E17) is cut from
 * the running fill against the length the fill really has; since its bytes are not yet verified
 * when its headers go out, it is never marked immutable (its end is held back until the verdict).
 */
async function getOnMiss(deps: MirrorDeps, resource: Resource, rangeHeader: string | null): Promise<Response> {
  const headers = baseHeaders();
  headers.set("x-cache-miss", "miss");
  const fill = await deps.fills.stream(resource, rangeHeader);
  if (fill.kind === "not-found") return notFound();
  if (fill.kind === "upstream-failed") return upstreamFailed(deps, resource, fill);
  if (fill.kind === "unsatisfiable") return unsatisfiable(fill.length, headers);
  if (fill.range) {
    const { start, end } = fill.range;
    const span = end - start + 1;
    headers.set("cache-control", "no-store, no-transform");
    headers.set("content-range", `bytes ${start}-${end}/${fill.length}`);
    headers.set("content-length", String(span));
    return new Response(fill.body, { status: 206, headers });
  }
  // The fill's body carries its length (spec E9: streamed chunked when the upstream gave none).
  if (fill.length !== undefined) headers.set("content-length", String(fill.length));
  return new Response(fill.body, { headers });
}
