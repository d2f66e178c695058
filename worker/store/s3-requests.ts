/**
 * Signed requests to an S3-compatible bucket (SigV4 by aws4fetch: small enough for the worker
 * bundle, unlike the AWS SDK), each bounded by a timeout and a few retries, its failure an S3Error.
 */

import { AwsClient } from "aws4fetch";
import { Outlet } from "../streams/bytes";
import { S3Error, xmlValue } from "./s3-error";
import type { S3Credentials } from "./s3-credentials";

/**
 * Attempts per request (retried on network errors, timeouts, 5xx and 429, with a short backoff):
 * few where a client waits (a hit), more for a part upload, where giving up loses the whole fill.
 */
export const ATTEMPTS = { read: 2, write: 4 } as const;
/** A body being sent may take this long per MiB on top of the timeout (a 1 MiB/s floor). */
const MS_PER_MIB = 1000;

export interface S3StoreOptions extends S3Credentials {
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  /**
   * Objects over one part go up as multipart uploads. (MULTIPART_THRESHOLD_BYTES is R2's: a single
   * S3 put is read whole first, so it is capped at one part.)
   */
  multipartPartBytes: number;
  /** How long one request may wait for its response headers (plus time to send its body). */
  timeoutMs: number;
}

function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

export class S3Requests {
  private readonly client: AwsClient;

  constructor(private readonly options: S3StoreOptions) {
    this.client = new AwsClient({
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      service: "s3",
      region: options.region,
      retries: 0,
    });
  }

  url(key: string, query = ""): string {
    const endpoint = new URL(this.options.endpoint);
    const base = this.options.forcePathStyle
      ? `${endpoint.origin}${endpoint.pathname.replace(/\/$/, "")}/${this.options.bucket}`
      : `${endpoint.protocol}//${this.options.bucket}.${endpoint.host}${endpoint.pathname.replace(/\/$/, "")}`;
    return `${base}/${encodeKey(key)}${query}`;
  }

  /**
   * One S3 request, bounded: a timeout on the response headers (the body, if any, is the caller's
   * to watch), and a few retries. aws4fetch's own retries (ten, on 5xx only) are off.
   */
  async send(
    what: string,
    url: string,
    request: RequestInit | (() => RequestInit),
    ok: number[],
    attempts: number = ATTEMPTS.read,
    bodyBytes?: number,
  ): Promise<Response> {
    const first = typeof request === "function" ? null : request;
    const size =
      bodyBytes ?? (first?.body instanceof Uint8Array ? first.body.byteLength : typeof first?.body === "string" ? first.body.length : 0);
    const timeoutMs = this.options.timeoutMs + Math.ceil((size / (1024 * 1024)) * MS_PER_MIB);
    let failure = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
      let res: Response;
      try {
        // A streamed body is made afresh for each attempt.
        const init = typeof request === "function" ? request() : request;
        res = await fetch(await this.client.sign(url, init), { signal: abort.signal });
      } catch (err) {
        failure =
          err instanceof Error && err.name === "TimeoutError"
            ? `timed out after ${timeoutMs} ms`
            : err instanceof Error
              ? err.message
              : String(err);
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (ok.includes(res.status)) return res;
      const text = await this.text(what, res).catch(() => "");
      const code = xmlValue(text, "Code") ?? res.statusText;
      if (res.status < 500 && res.status !== 429) throw new S3Error(res.status, code, what);
      failure = `${res.status} ${code}`;
    }
    throw new S3Error(0, failure, `${what} (${attempts} attempts)`);
  }

  /**
   * An answer's (small, XML) body as text, read within the timeout: a body that breaks off or
   * stalls after the headers is an S3Error too, not a network error or a caller left hanging.
   */
  async text(what: string, res: Response): Promise<string> {
    if (!res.body) return "";
    const reader = res.body.getReader();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    const decoder = new TextDecoder();
    let text = "";
    try {
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), timedOut]);
        if (done) return text + decoder.decode();
        text += decoder.decode(value, { stream: true });
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      throw new S3Error(0, err instanceof Error ? err.message : String(err), what);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `bytes` as a native stream of known length, written 64 KiB at a time (the caller keeps the buffer until the request answered). */
export function streamFrom(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const outlet = new Outlet(bytes.byteLength);
  void (async () => {
    try {
      for (let at = 0; at < bytes.byteLength; at += 64 * 1024) await outlet.write(bytes.subarray(at, at + 64 * 1024));
      await outlet.close();
    } catch (err) {
      outlet.abort(err);
    }
  })();
  return outlet.readable;
}
