/**
 * Talking to upstream storage servers (or Pkg servers): the HEAD race and the GET with fallback
 * (spec §6.3 step 3). Results are values that say which upstream answered and how, never throws.
 */

import { log } from "../log";

export interface UpstreamHit {
  upstream: string;
  /** The Content-Length the upstream announced, when it did (spec E9: tolerate its absence). */
  length: number | undefined;
}

export type ProbeResult =
  | {
      found: true;
      /** The upstreams that had answered 200 when the first one did (usually just that one). */
      hits: UpstreamHit[];
      /** Every upstream that answered 200, once all HEADs have settled: the fallbacks. */
      all: Promise<UpstreamHit[]>;
    }
  | { found: false; errors: string[] };

/**
 * Headers for every upstream request. Asking for `identity` keeps the bytes exactly as stored
 * (gzip tarballs), so nothing decodes them in transit and no Pkg server upstream redirects us to
 * a `.tar.zst` variant, which we could neither verify nor serve to old clients (spec §4.4).
 */
export const UPSTREAM_HEADERS = {
  "accept-encoding": "identity",
  "user-agent": "pkgedge",
} as const;

function lengthOf(res: Response): number | undefined {
  const raw = res.headers.get("content-length");
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name === "TimeoutError" ? "timed out" : err.message;
  return String(err);
}

/**
 * HEADs `path` on every upstream in parallel. Resolves as soon as the first answers 200, with the
 * hits in the order they answered; the other HEADs are given until they settle or time out, so a
 * GET that fails on the winner can fall back to them.
 */
export async function probeUpstreams(upstreams: readonly string[], path: string, timeoutMs: number): Promise<ProbeResult> {
  const hits: UpstreamHit[] = [];
  const errors: string[] = [];
  let resolveFirst!: () => void;
  const first = new Promise<void>((r) => (resolveFirst = r));
  const all = Promise.all(
    upstreams.map(async (upstream) => {
      try {
        const res = await fetch(upstream + path, {
          method: "HEAD",
          headers: UPSTREAM_HEADERS,
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.status === 200) {
          hits.push({ upstream, length: lengthOf(res) });
          resolveFirst();
        } else {
          errors.push(`${upstream}: HEAD ${res.status}`);
        }
      } catch (err) {
        errors.push(`${upstream}: HEAD ${describe(err)}`);
      }
    }),
  );
  await Promise.race([first, all]);
  if (hits.length === 0) return { found: false, errors };
  return { found: true, hits: [...hits], all: all.then(() => hits) };
}

export interface UpstreamBody {
  upstream: string;
  length: number | undefined;
  body: ReadableStream<Uint8Array>;
}

/**
 * GETs `path` from each candidate in turn until one answers 200 with a body. The timeout covers
 * only the wait for response headers; the body is watched for stalls by the fill.
 */
export async function getFromUpstreams(
  candidates: readonly string[],
  path: string,
  timeoutMs: number,
): Promise<{ ok: true; response: UpstreamBody } | { ok: false; errors: string[] }> {
  const errors: string[] = [];
  for (const upstream of candidates) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    try {
      const res = await fetch(upstream + path, { headers: UPSTREAM_HEADERS, signal: abort.signal, redirect: "follow" });
      clearTimeout(timer);
      if (res.status === 200 && res.body) {
        if (res.headers.has("content-encoding") && res.headers.get("content-encoding") !== "identity") {
          // Bytes re-encoded in transit are not the stored tarball; never pass them on.
          await res.body.cancel();
          errors.push(`${upstream}: GET answered with Content-Encoding ${res.headers.get("content-encoding")}`);
          continue;
        }
        return { ok: true, response: { upstream, length: lengthOf(res), body: res.body } };
      }
      await res.body?.cancel();
      errors.push(`${upstream}: GET ${res.status}`);
    } catch (err) {
      clearTimeout(timer);
      errors.push(`${upstream}: GET ${describe(err)}`);
    }
  }
  log("warn", "upstream_get_failed", { path, errors });
  return { ok: false, errors };
}

/** A registry list is a few lines; anything bigger is not one, and is not read into memory. */
const MAX_TEXT_BYTES = 1024 * 1024;

/** GETs a small text document (a registry list) from one upstream; `text` only when it answers 200. */
export async function getText(upstream: string, path: string, timeoutMs: number): Promise<{ status: number; text?: string; error?: string }> {
  try {
    const res = await fetch(upstream + path, { headers: UPSTREAM_HEADERS, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return { status: res.status };
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_TEXT_BYTES) return { status: res.status, error: `${path} is larger than ${MAX_TEXT_BYTES} bytes` };
      chunks.push(chunk);
    }
    return { status: 200, text: new TextDecoder().decode(await new Blob(chunks).arrayBuffer()) };
  } catch (err) {
    return { status: 0, error: describe(err) };
  }
}
