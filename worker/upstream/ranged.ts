/**
 * The ranged GET a fill continues with (protocol.md §6.3): the rest of an object from one upstream,
 * refused unless it is the same object from the byte asked for.
 */

import { upstreamFetch } from "./credentials";
import { describeFailure, lengthOf, reencoded, UPSTREAM_HEADERS } from "./upstream";

/** The total length a Content-Range starting at `offset` gives (undefined for `*`), or null when it starts elsewhere. */
function contentRangeTotal(header: string | null, offset: number): number | undefined | null {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? "");
  if (!m || Number(m[1]) !== offset) return null;
  return m[2] === "*" ? undefined : Number(m[2]);
}

/** What a ranged GET must match: the whole object's length, and the version it continues (If-Range). */
export interface RangeExpectation {
  length?: number;
  /**
   * A strong ETag: an upstream whose object changed answers 200, which is then refused, and so is
   * a 206 with another ETag (or none), from an upstream that ignores If-Range.
   */
  ifRange?: string;
}

/** Why a ranged GET was refused; `changed`: the object is another version now, so no later ranged GET can continue it. */
export type RangeRefusal = { ok: false; error: string; changed?: true };

/**
 * GETs `path` from `offset` on (to the end) from one upstream. An upstream that ignores Range and
 * answers 200 is read from its start with the first `offset` bytes skipped (unless an If-Range was
 * sent: its 200 says the object changed); one that answers another range, or a range of an object
 * of another length, is refused.
 */
export async function getFrom(
  upstream: string,
  path: string,
  offset: number,
  timeoutMs: number,
  expected: RangeExpectation = {},
): Promise<{ ok: true; body: ReadableStream<Uint8Array>; skip: number } | RangeRefusal> {
  const range = `bytes=${offset}-`;
  const headers: Record<string, string> = { ...UPSTREAM_HEADERS, range };
  if (expected.ifRange) headers["if-range"] = expected.ifRange;
  // The timeout covers the wait for headers only; the body is watched by whoever reads it.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
  try {
    const res = await upstreamFetch(upstream + path, { headers, signal: abort.signal });
    clearTimeout(timer);
    const refuse = async (what: string, changed?: true): Promise<RangeRefusal> => {
      await res.body?.cancel();
      return { ok: false, error: `${upstream}: ranged GET ${range} ${what}`, ...(changed && { changed }) };
    };
    if (!res.body || (res.status !== 206 && res.status !== 200)) return refuse(`answered ${res.status}`);
    const encoding = reencoded(res);
    if (encoding) return refuse(`answered with Content-Encoding ${encoding}`);
    if (expected.ifRange) {
      if (res.status === 200) return refuse("answered the whole object: it changed", true);
      const etag = res.headers.get("etag");
      if (etag === null) return refuse("answered a range without an ETag: not shown to be the same version");
      if (etag !== expected.ifRange) return refuse(`answered a range of ${etag}, not of ${expected.ifRange}: it changed`, true);
    }
    const total = res.status === 206 ? contentRangeTotal(res.headers.get("content-range"), offset) : lengthOf(res);
    if (total === null) return refuse("answered another range");
    if (expected.length !== undefined && total !== undefined && total !== expected.length) {
      return refuse(`answered for an object of ${total} bytes, not ${expected.length}`);
    }
    return { ok: true, body: res.body, skip: res.status === 200 ? offset : 0 };
  } catch (err) {
    clearTimeout(timer);
    return { ok: false, error: `${upstream}: ranged GET ${describeFailure(err, upstream, timeoutMs)}` };
  }
}
