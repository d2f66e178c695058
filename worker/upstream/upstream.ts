/**
 * Talking to upstream storage servers (or Pkg servers): the HEAD race and the GET with fallback
 * (protocol.md §6.3 step 3). Results are values that say which upstream answered and how, never throws.
 */

import { log } from "../log";
import { credentialFor, upstreamFetch } from "./credentials";
import { textUpTo } from "../streams/bytes";

export interface UpstreamHit {
  upstream: string;
  /** The Content-Length the upstream announced, when it did (protocol.md E9: tolerate its absence). */
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
  /**
   * `unavailable`: at least one upstream could not be asked (5xx, timeout, DNS, refused, TLS), so
   * "nobody has it" is not known; otherwise every upstream answered that it does not have it.
   */
  | { found: false; unavailable: boolean; errors: string[] };

/**
 * Headers for every upstream request. Asking for `identity` keeps the bytes exactly as stored
 * (gzip tarballs), so nothing decodes them in transit and no Pkg server upstream redirects us to
 * a `.tar.zst` variant, which we could neither verify nor serve to old clients (protocol.md §4.4).
 */
export const UPSTREAM_HEADERS = {
  "accept-encoding": "identity",
  "user-agent": "pkgedge",
} as const;

export function lengthOf(res: Response): number | undefined {
  const raw = res.headers.get("content-length");
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

const STATUS_WORDS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  410: "Gone",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** An HTTP status in words for operators: `HTTP 503 Service Unavailable`. */
export function statusInWords(status: number): string {
  return `HTTP ${status}${STATUS_WORDS[status] ? ` ${STATUS_WORDS[status]}` : ""}`;
}

/**
 * A 4xx other than "try later" (408, 429): the upstream's answer about this path, passed on by the
 * binary mirror (S3 says 403 for a key it does not have when its list is private).
 */
export function isAnswerAboutPath(status: number, upstream: string): boolean {
  // With pkgedge's own credential for the upstream, a refusal is about that credential (expired,
  // rotated), not about the path: an outage, never passed to a client as if its own.
  if ((status === 401 || status === 403) && credentialFor(upstream) !== undefined) return false;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Statuses that mean "this upstream does not have it"; any other failure means it could not say. */
export function isAbsent(status: number): boolean {
  return status === 404 || status === 410;
}

/**
 * A fetch failure in words an operator can act on. workerd reports a failed DNS lookup only as
 * "internal error; reference = …" and a refused connection as "Network connection lost".
 */
export function describeFailure(err: unknown, url: string, timeoutMs: number): string {
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError" || err.name === "AbortError") return `timed out after ${timeoutMs} ms waiting for ${host}`;
  if (/internal error; reference/i.test(err.message)) return `DNS lookup failed for ${host} (or it could not be reached)`;
  if (/network connection lost|connection refused|ECONNREFUSED/i.test(err.message)) return `connection to ${host} refused or lost`;
  if (/tls|ssl|certificate|handshake/i.test(err.message)) return `TLS handshake with ${host} failed: ${err.message}`;
  return `${host}: ${err.message}`;
}

/**
 * HEADs `path` on every upstream in parallel. Resolves as soon as the first answers 200, with the
 * hits in the order they answered; the other HEADs are given until they settle or time out, so a
 * GET that fails on the winner can fall back to them.
 */
export async function probeUpstreams(upstreams: readonly string[], path: string, timeoutMs: number): Promise<ProbeResult> {
  const hits: UpstreamHit[] = [];
  const errors: string[] = [];
  let unavailable = false;
  let resolveFirst!: () => void;
  const first = new Promise<void>((r) => (resolveFirst = r));
  const all = Promise.all(
    upstreams.map(async (upstream) => {
      try {
        const res = await upstreamFetch(upstream + path, {
          method: "HEAD",
          headers: { ...UPSTREAM_HEADERS },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.status === 200) {
          hits.push({ upstream, length: lengthOf(res) });
          resolveFirst();
        } else {
          if (!isAbsent(res.status)) unavailable = true;
          errors.push(`${upstream}: HEAD answered ${statusInWords(res.status)}`);
        }
      } catch (err) {
        unavailable = true;
        errors.push(`${upstream}: HEAD ${describeFailure(err, upstream, timeoutMs)}`);
      }
    }),
  );
  await Promise.race([first, all]);
  if (hits.length === 0) return { found: false, unavailable, errors };
  return { found: true, hits: [...hits], all: all.then(() => hits) };
}

/** What an upstream said about a body besides its bytes (kept with a binary mirror's copies). */
export interface UpstreamHeaders {
  contentType?: string;
  etag?: string;
  lastModified?: string;
}

export interface UpstreamBody {
  upstream: string;
  length: number | undefined;
  headers: UpstreamHeaders;
  body: ReadableStream<Uint8Array>;
}

function headersOf(res: Response): UpstreamHeaders {
  const pick = (name: string) => res.headers.get(name) ?? undefined;
  return { contentType: pick("content-type"), etag: pick("etag"), lastModified: pick("last-modified") };
}

/** Validators for a conditional GET: the upstream's ETag and Last-Modified of the copy held. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type Answer =
  | { kind: "body"; response: UpstreamBody }
  | { kind: "not-modified" }
  /** Any other status: the caller decides what it means (absent, refused, failing). */
  | { kind: "status"; status: number; headers: UpstreamHeaders }
  | { kind: "failed"; error: string };

/**
 * One GET of `path` from one upstream (conditional when validators are given). The timeout covers
 * only the wait for response headers; the body is watched for stalls by the fill.
 */
export async function getOnce(upstream: string, path: string, timeoutMs: number, validators?: Validators): Promise<Answer> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
  const headers: Record<string, string> = { ...UPSTREAM_HEADERS };
  if (validators?.etag) headers["if-none-match"] = validators.etag;
  else if (validators?.lastModified) headers["if-modified-since"] = validators.lastModified;
  try {
    const res = await upstreamFetch(upstream + path, { headers, signal: abort.signal, redirect: "follow" });
    clearTimeout(timer);
    if (res.status === 200 && res.body) {
      const encoding = reencoded(res);
      if (encoding) {
        await res.body.cancel();
        return { kind: "failed", error: `${upstream}: GET answered with Content-Encoding ${encoding}` };
      }
      return { kind: "body", response: { upstream, length: lengthOf(res), headers: headersOf(res), body: res.body } };
    }
    await res.body?.cancel();
    if (res.status === 304 && validators) return { kind: "not-modified" };
    return { kind: "status", status: res.status, headers: headersOf(res) };
  } catch (err) {
    clearTimeout(timer);
    return { kind: "failed", error: `${upstream}: GET ${describeFailure(err, upstream, timeoutMs)}` };
  }
}

/** GETs `path` from each candidate in turn until one answers 200 with a body. */
/**
 * The Content-Encoding an answer was re-encoded with in transit, or null. Such bytes are not the
 * stored object (fetch would hand over the decoded ones); they are never passed on.
 */
export function reencoded(res: Response): string | null {
  const encoding = res.headers.get("content-encoding");
  return encoding !== null && encoding !== "identity" ? encoding : null;
}

export async function getFromUpstreams(
  candidates: readonly string[],
  path: string,
  timeoutMs: number,
): Promise<{ ok: true; response: UpstreamBody } | { ok: false; errors: string[] }> {
  const errors: string[] = [];
  for (const upstream of candidates) {
    const answer = await getOnce(upstream, path, timeoutMs);
    if (answer.kind === "body") return { ok: true, response: answer.response };
    errors.push(
      answer.kind === "failed"
        ? answer.error
        : `${upstream}: GET answered ${statusInWords(answer.kind === "status" ? answer.status : 304)}`,
    );
  }
  log("warn", "upstream_get_failed", { path, errors });
  return { ok: false, errors };
}

/** A HEAD of `path` on one upstream, answered as it came (a cold HEAD on the binary mirror). */
export async function headOnce(
  upstream: string,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; length: number | undefined; headers: UpstreamHeaders } | { status: 0; error: string }> {
  try {
    const res = await upstreamFetch(upstream + path, {
      method: "HEAD",
      headers: { ...UPSTREAM_HEADERS },
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, length: lengthOf(res), headers: headersOf(res) };
  } catch (err) {
    return { status: 0, error: `${upstream}: HEAD ${describeFailure(err, upstream, timeoutMs)}` };
  }
}

/** A registry list is a few lines; anything bigger is not one, and is not read into memory. */
const MAX_TEXT_BYTES = 1024 * 1024;

/** GETs a small text document (a registry list) from one upstream; `text` only when it answers 200. */
export async function getText(
  upstream: string,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; text?: string; error?: string }> {
  try {
    const res = await upstreamFetch(upstream + path, { headers: { ...UPSTREAM_HEADERS }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return { status: res.status };
    }
    const text = await textUpTo(res.body, MAX_TEXT_BYTES);
    if (text === null) return { status: res.status, error: `${path} is larger than ${MAX_TEXT_BYTES} bytes` };
    return { status: 200, text };
  } catch (err) {
    return { status: 0, error: describeFailure(err, upstream, timeoutMs) };
  }
}
