/**
 * The answers tarballs and binary-mirror files share: a hit, an absence, an upstream failure, an
 * unsatisfiable range, and a miss answered from its fill. Each notes its cache state on the
 * request (the access log, and X-Cache, read it there); a miss also says `X-Cache-Miss: miss`.
 * Only these functions set either.
 */

import type { Streamed, Unavailable } from "../fill/coordinator-calls";
import { NO_STORE } from "../protocol/media";
import type { CacheOutcome } from "../ops/access-log";

import type { RequestDeps } from "../runtime";
import { log } from "../log";

/** What a fill answers with: its bytes, or why a range of them cannot be cut. */
export type FillStream = Extract<Streamed, { kind: "streaming" | "unsatisfiable" }>;

function noteCache(deps: RequestDeps, outcome: CacheOutcome, upstream?: string | null): void {
  deps.note.cache = outcome;
  if (upstream !== undefined) deps.note.upstream = upstream;
}

function markMiss(headers: Headers): Headers {
  headers.set("x-cache-miss", "miss");
  return headers;
}

export function notFound(status = 404): Response {
  return new Response(null, { status, headers: { "cache-control": NO_STORE } });
}

/** Notes a hit for the access log: no upstream was asked, so none is named. */
export function hit(deps: RequestDeps, answer: Response): Response {
  noteCache(deps, "hit", null);
  return answer;
}

/**
 * A hit sent to the bucket's public domain: no upstream was asked, no body goes from here (the
 * access log shows 0 bytes), and the encoding is that of the object the Location names.
 */
export function redirected(deps: RequestDeps, answer: Response, encoding: "gzip" | "zstd"): Response {
  noteCache(deps, "redirect", null);
  deps.note.encoding = encoding;
  return answer;
}

/** A resource no upstream has (or, for the binary mirror, the status its bucket gave). */
export function absent(deps: RequestDeps, status = 404): Response {
  noteCache(deps, "negative");
  return notFound(status);
}

/**
 * An upstream outage is not an absence (Pkg, downstream caches and operators read 404 as "this does
 * not exist"): 502, never stored, with a short Retry-After, naming the cause.
 */
export function upstreamFailed(deps: RequestDeps, key: string, failure: Unavailable): Response {
  noteCache(deps, "error");
  log("warn", "upstream_failed", { key, detail: failure.detail });
  deps.noteFailure(key, failure.detail);
  return Response.json(
    { error: "no upstream could serve this resource just now", key, detail: failure.detail },
    { status: 502, headers: { "cache-control": NO_STORE, "retry-after": String(failure.retryAfterSeconds) } },
  );
}

export function unsatisfiable(size: number, headers: Headers): Response {
  headers.set("content-range", `bytes */${size}`);
  headers.set("cache-control", NO_STORE);
  return new Response(null, { status: 416, headers });
}

/** A cold HEAD answered from what the upstream said (no bytes read): the length the GET will have. */
export function coldHead(deps: RequestDeps, headers: Headers, length: number | undefined, upstream: string | null): Response {
  noteCache(deps, "miss", upstream);
  markMiss(headers);
  if (length !== undefined) headers.set("content-length", String(length));
  return new Response(null, { headers });
}

/**
 * A miss answered from the copy its fill verified and stored (the answer a hit would give, from
 * the bucket): noted as the miss it was, with the upstream that supplied it.
 */
export function verifiedMiss(deps: RequestDeps, answer: Response, upstream: string, joined: boolean): Response {
  noteCache(deps, joined ? "joined" : "miss", upstream);
  markMiss(answer.headers);
  return answer;
}

/**
 * A miss streamed from its fill, with the resource's own headers. A range (protocol.md C20, E17) is cut
 * from the running fill against the length the fill really has; since its bytes are not yet
 * verified when its headers go out, it is never kept by a cache (its end is held back until the
 * verdict). The whole body carries its length (protocol.md E9: streamed chunked when the upstream gave
 * none). A HEAD that started a fill (a mirror copy found outdated) needs none of its bytes.
 */
export async function fillAnswer(deps: RequestDeps, fill: FillStream, headers: Headers, head = false): Promise<Response> {
  markMiss(headers);
  if (fill.kind === "unsatisfiable") return unsatisfiable(fill.length, headers);
  noteCache(deps, fill.joined ? "joined" : "miss", fill.upstream);
  if (head) {
    await fill.body.cancel();
    if (fill.length !== undefined) headers.set("content-length", String(fill.length));
    return new Response(null, { headers });
  }
  if (fill.range) {
    const { start, end } = fill.range;
    headers.set("cache-control", `${NO_STORE}, no-transform`);
    headers.set("content-range", `bytes ${start}-${end}/${fill.length}`);
    headers.set("content-length", String(end - start + 1));
    return new Response(fill.body, { status: 206, headers });
  }
  if (fill.length !== undefined) headers.set("content-length", String(fill.length));
  return new Response(fill.body, { headers });
}
