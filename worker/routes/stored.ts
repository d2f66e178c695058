/**
 * Answering from a stored object (a hit): conditional requests, single ranges, HEAD. Shared by the
 * protocol's tarballs and the binary mirror's files, which differ only in the headers they send.
 */

import { parseRange } from "./range";
import { ifNoneMatchHits } from "./conditional";
import type { ObjectBody, ObjectInfo, ObjectStore } from "../store/store";
import { withLength } from "../streams/bytes";

import { NO_STORE } from "../protocol/media";

/** What a request asks of a stored object. */
export interface Asked {
  head: boolean;
  rangeHeader: string | null;
  ifNoneMatch: string | null;
}

export function askedOf(request: Request): Asked {
  return { head: request.method === "HEAD", rangeHeader: request.headers.get("range"), ifNoneMatch: request.headers.get("if-none-match") };
}

export function unsatisfiable(size: number, headers: Headers): Response {
  headers.set("content-range", `bytes */${size}`);
  headers.set("cache-control", NO_STORE);
  return new Response(null, { status: 416, headers });
}

/** A bucket body as the response body: as it is when it carries its length (the fast path of a hit). */
function stored(obj: ObjectBody, length: number): ReadableStream<Uint8Array> {
  return obj.lengthKnown ? obj.body : withLength(obj.body, length);
}

/** A plain GET of an object already read from the bucket: its body, or 304 when the client has it. */
export async function answerWhole(obj: ObjectBody, headers: Headers, etag: string, ifNoneMatch: string | null): Promise<Response> {
  if (ifNoneMatchHits(ifNoneMatch, etag)) {
    await obj.body.cancel();
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-length", String(obj.size));
  return new Response(stored(obj, obj.size), { headers });
}

/**
 * A HEAD or ranged GET of an object whose metadata was read: 304, 416, 206 or 200. Null when the
 * object vanished between the metadata and the read (the caller answers it as a miss).
 */
export async function answerFromInfo(
  store: ObjectStore,
  info: ObjectInfo,
  headers: Headers,
  etag: string,
  asked: Asked,
): Promise<Response | null> {
  if (ifNoneMatchHits(asked.ifNoneMatch, etag)) return new Response(null, { status: 304, headers });
  const range = parseRange(asked.rangeHeader, info.size);
  if (range.kind === "unsatisfiable") return unsatisfiable(info.size, headers);
  const [status, start, length] = range.kind === "partial" ? [206, range.start, range.end - range.start + 1] : [200, 0, info.size];
  if (status === 206) headers.set("content-range", `bytes ${start}-${start + length - 1}/${info.size}`);
  headers.set("content-length", String(length));
  if (asked.head) return new Response(null, { status, headers });
  const obj = await store.get(info.key, { offset: start, length });
  if (!obj) return null;
  return new Response(stored(obj, length), { status, headers });
}
