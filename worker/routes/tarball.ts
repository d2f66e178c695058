/**
 * Responses for content-addressed tarballs (spec §3.1, §4): from the bucket on a hit, streamed
 * from upstream on a miss. The body is the gzip tarball itself, never an HTTP content coding, so
 * there is never a Content-Encoding, and `no-transform` keeps intermediaries from adding one.
 */

import type { Resource } from "./grammar";
import { parseRange } from "./range";
import { ifNoneMatchHits } from "./conditional";
import type { ObjectInfo } from "../store/store";
import { fillFromUpstream, locate, TARBALL_CONTENT_TYPE, type FillDeps } from "../fill/fill";

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

/** A body of known length: FixedLengthStream makes workerd send Content-Length, and errors if the source runs short. */
function sized(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  return body.pipeThrough(new FixedLengthStream(length));
}

export async function serveTarball(deps: FillDeps, resource: Resource, request: Request): Promise<Response> {
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
      return new Response(sized(obj.body, obj.size), { headers });
    }
  }

  return head ? headOnMiss(deps, resource) : getOnMiss(deps, resource, rangeHeader);
}

async function serveStoredRange(
  deps: FillDeps,
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
  return new Response(sized(obj.body, length), { status, headers });
}

/** A cold HEAD answers from the upstream probe, which pins that upstream for the GET that follows (spec §6.3.7). */
async function headOnMiss(deps: FillDeps, resource: Resource): Promise<Response> {
  const located = await locate(deps, resource);
  if (!located) return notFound();
  const headers = baseHeaders();
  headers.set("x-cache-miss", "miss");
  const length = located.hits[0]!.length;
  if (length !== undefined) headers.set("content-length", String(length));
  return new Response(null, { headers });
}

async function getOnMiss(deps: FillDeps, resource: Resource, rangeHeader: string | null): Promise<Response> {
  const fill = await fillFromUpstream(deps, resource, { clientCopy: true });
  if (fill.kind === "not-found") return notFound();
  if (fill.kind === "upstream-failed") {
    return Response.json({ error: "upstream failed", key: resource.key }, { status: 502, headers: { "cache-control": NO_STORE } });
  }
  const headers = baseHeaders();
  headers.set("x-cache-miss", "miss");
  const body = fill.body!;
  const { length } = fill;
  if (length === undefined) return new Response(body, { headers }); // spec E9: stream chunked

  // A range on a cold resource (spec C20, E17): cut it out of the stream while the fill goes on.
  const range = parseRange(rangeHeader, length);
  if (range.kind === "unsatisfiable") {
    await body.cancel();
    return unsatisfiable(length, headers);
  }
  if (range.kind === "partial") {
    const span = range.end - range.start + 1;
    headers.set("content-range", `bytes ${range.start}-${range.end}/${length}`);
    headers.set("content-length", String(span));
    return new Response(sized(body.pipeThrough(slice(range.start, span)), span), { status: 206, headers });
  }
  headers.set("content-length", String(length));
  return new Response(sized(body, length), { headers });
}

/** Passes on `length` bytes starting at `start`, then stops reading (the fill's own branch goes on). */
function slice(start: number, length: number): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  const end = start + length;
  return new TransformStream({
    transform(chunk, controller) {
      const from = Math.max(start - position, 0);
      const to = Math.min(end - position, chunk.byteLength);
      position += chunk.byteLength;
      if (to > from) controller.enqueue(chunk.subarray(from, to));
      if (position >= end) controller.terminate();
    },
  });
}
