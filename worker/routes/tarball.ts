/**
 * Responses for content-addressed tarballs (spec §3.1, §4): from the bucket on a hit, streamed
 * from upstream on a miss. The body is the gzip tarball itself, never an HTTP content coding, so
 * there is never a Content-Encoding, and `no-transform` keeps intermediaries from adding one.
 */

import type { Resource } from "../protocol/paths";
import { answerFromInfo, answerWhole, askedOf, fillRange, unsatisfiable, type Presentation } from "./stored";
import type { ObjectInfo } from "../store/store";
import { IMMUTABLE, NO_STORE, TARBALL_CONTENT_TYPE } from "../protocol/media";
import type { MirrorDeps } from "../runtime";
import type { Unavailable } from "../fill/coordinator-calls";
import { log } from "../log";

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

export function notFound(status = 404): Response {
  return new Response(null, { status, headers: { "cache-control": NO_STORE } });
}

export async function serveTarball(deps: MirrorDeps, resource: Resource, request: Request): Promise<Response> {
  const asked = askedOf(request);
  // Hit path. A plain GET is one bucket read; HEAD and ranged GETs read the metadata first.
  if (asked.head || asked.rangeHeader !== null) {
    const info = await deps.store.head(resource.key);
    const answer = info && (await answerFromInfo(deps.store, info, TARBALL, asked));
    if (answer) return hit(deps, info!, answer); // null: deleted between head and get
  } else {
    const obj = await deps.store.get(resource.key);
    if (obj) return hit(deps, obj, await answerWhole(obj, storedHeaders(obj), obj.etag, asked.ifNoneMatch));
  }
  return asked.head ? headOnMiss(deps, resource) : getOnMiss(deps, resource, request);
}

/** Notes a hit (and the upstream the object was filled from) for the access log. */
export function hit(deps: MirrorDeps, info: ObjectInfo, answer: Response): Response {
  deps.note.cache = "hit";
  deps.note.upstream = info.customMetadata.upstream ?? null;
  return answer;
}

/** A resource no upstream has (or, for the binary mirror, the status its bucket gave). */
export function absent(deps: MirrorDeps, status = 404): Response {
  deps.note.cache = "negative";
  return notFound(status);
}

/**
 * An upstream outage is not an absence (Pkg, downstream caches and operators read 404 as "this does
 * not exist"): 502, never stored, with a short Retry-After, naming the cause.
 */
export function upstreamFailed(deps: MirrorDeps, key: string, failure: Unavailable): Response {
  deps.note.cache = "error";
  log("warn", "upstream_failed", { key, detail: failure.detail });
  deps.noteFailure(key, failure.detail);
  return Response.json(
    { error: "no upstream could serve this resource just now", key, detail: failure.detail },
    { status: 502, headers: { "cache-control": NO_STORE, "retry-after": String(failure.retryAfterSeconds) } },
  );
}

/**
 * A cold HEAD answers from the resource's coordinator, which remembers the upstream it found so
 * the GET that follows is filled from it and has the same Content-Length (spec §6.3.7).
 */
async function headOnMiss(deps: MirrorDeps, resource: Resource): Promise<Response> {
  const located = await deps.fills.locate(resource);
  if (!located.found) return located.unavailable ? upstreamFailed(deps, resource.key, located) : absent(deps);
  deps.note.cache = "miss";
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
async function getOnMiss(deps: MirrorDeps, resource: Resource, request: Request): Promise<Response> {
  const headers = baseHeaders();
  headers.set("x-cache-miss", "miss");
  const fill = await deps.fills.stream(resource, fillRange(askedOf(request)));
  if (fill.kind === "not-found") return absent(deps);
  if (fill.kind === "in-bucket") return serveTarball(deps, resource, request);
  if (fill.kind === "upstream-failed") return upstreamFailed(deps, resource.key, fill);
  if (fill.kind === "unsatisfiable") return unsatisfiable(fill.length, headers);
  deps.note.cache = fill.joined ? "joined" : "miss";
  deps.note.upstream = fill.upstream;
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
