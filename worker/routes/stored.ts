/**
 * Answering from a stored object (a hit): conditional requests, single ranges, HEAD. Shared by the
 * protocol's tarballs and the binary mirror's files, which differ only in the headers they send.
 */

import { parseRange } from "../protocol/range";
import { ifNoneMatchHits, ifRangeHolds } from "./conditional";
import { CHANGED, type ObjectBody, type ObjectInfo, type ObjectStore } from "../store/store";
import { withLength } from "../streams/bytes";

import { NO_STORE } from "../protocol/media";

/** What a request asks of a stored object. */
export interface Asked {
  head: boolean;
  rangeHeader: string | null;
  ifNoneMatch: string | null;
  ifRange: string | null;
}

export function askedOf(request: Request): Asked {
  const h = request.headers;
  return { head: request.method === "HEAD", rangeHeader: h.get("range"), ifNoneMatch: h.get("if-none-match"), ifRange: h.get("if-range") };
}

/**
 * The range a fill may be asked to cut. A request with If-Range names a version it holds part of;
 * a fill is a version no client has seen whole yet, so it is answered whole (RFC 9110 allows
 * ignoring Range; splicing versions it does not).
 */
export function fillRange(asked: Asked): string | null {
  return asked.ifRange === null ? asked.rangeHeader : null;
}

/** How stored objects under one kind of key are answered. */
export interface Presentation {
  /** The response headers for an object, its ETag and Last-Modified as the client is to see them. */
  headers(info: ObjectInfo): Headers;
  /** The content under the key never changes, so its Last-Modified is a strong validator. */
  immutable: boolean;
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
 * object vanished between the metadata and the read (the caller answers it as a miss). The bytes
 * are read only if the object still has the metadata's ETag, so the headers always describe them.
 */
export async function answerFromInfo(store: ObjectStore, info: ObjectInfo, shown: Presentation, asked: Asked): Promise<Response | null> {
  const headers = shown.headers(info);
  const etag = headers.get("etag") ?? "";
  if (ifNoneMatchHits(asked.ifNoneMatch, etag)) return new Response(null, { status: 304, headers });
  // A range of another version than the client's would splice two versions: then the whole object.
  const validators = { etag: headers.get("etag"), lastModified: headers.get("last-modified"), strongDate: shown.immutable };
  const range = parseRange(ifRangeHolds(asked.ifRange, validators) ? asked.rangeHeader : null, info.size);
  if (range.kind === "unsatisfiable") return unsatisfiable(info.size, headers);
  const span = range.kind === "partial" ? { offset: range.start, length: range.end - range.start + 1 } : undefined;
  const length = span ? span.length : info.size;
  if (span) headers.set("content-range", `bytes ${span.offset}-${span.offset + span.length - 1}/${info.size}`);
  headers.set("content-length", String(length));
  const status = span ? 206 : 200;
  if (asked.head) return new Response(null, { status, headers });
  const obj = await store.getIfUnchanged(info.key, info.etag, span);
  if (obj === CHANGED) return answerCurrent(store, info.key, shown, asked.ifNoneMatch);
  if (!obj) return null;
  return new Response(stored(obj, length), { status, headers });
}

/**
 * The object was replaced between its metadata and its bytes (a revalidation committed in
 * between): the whole current object from one read, whose headers and bytes agree. Null when it
 * is gone by now.
 */
async function answerCurrent(store: ObjectStore, key: string, shown: Presentation, ifNoneMatch: string | null): Promise<Response | null> {
  const obj = await store.get(key);
  if (!obj) return null;
  const headers = shown.headers(obj);
  return answerWhole(obj, headers, headers.get("etag") ?? "", ifNoneMatch);
}
