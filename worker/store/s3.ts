/**
 * Any S3-compatible bucket (AWS S3, MinIO, Ceph, Backblaze B2, R2's S3 endpoint) as an
 * ObjectStore, over HTTP with SigV4 (aws4fetch: small enough for the worker bundle, unlike the
 * AWS SDK). Same contract as the R2 binding: an object appears only if its body stream ended
 * cleanly; objects larger than one part, or of unknown length, go up as multipart uploads
 * completed at the end. Compare-and-swap writes (registry lists) need a bucket that honours
 * If-Match / If-None-Match on PutObject, as AWS S3, R2's S3 API and MinIO do.
 */

import { AwsClient } from "aws4fetch";
import { CHANGED, StorageError, type ByteSpan, type ObjectBody, type ObjectInfo, type ObjectStore, type PutOptions } from "./store";
import { partsOf } from "./parts";
import { watchBody } from "../streams/watchdog";
import { ChunkReader, Outlet } from "../streams/bytes";
import { log } from "../log";

/**
 * Attempts per request (retried on network errors, timeouts, 5xx and 429, with a short backoff):
 * few where a client waits (a hit), more for a part upload, where giving up loses the whole fill.
 */
const ATTEMPTS = { read: 2, write: 4 } as const;
/** A body being sent may take this long per MiB on top of the timeout (a 1 MiB/s floor). */
const MS_PER_MIB = 1000;

export interface S3StoreOptions {
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Objects over one part go up as multipart uploads. (MULTIPART_THRESHOLD_BYTES is R2's: a single
   * S3 put is read whole first, so it is capped at one part.)
   */
  multipartPartBytes: number;
  /** How long one request may wait for its response headers (plus time to send its body). */
  timeoutMs: number;
}

/** What a bucket that answers 401 or 403 refused: the secrets pkgedge signs with. */
const REFUSED = {
  error: "the S3 bucket refused pkgedge's credentials",
  variables: ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"],
} as const;

/** An S3 answer pkgedge did not expect, with the service's own error code when it gave one. */
export class S3Error extends StorageError {
  constructor(
    readonly status: number,
    readonly code: string,
    what: string,
  ) {
    super(`S3 ${what} failed: ${status} ${code}`, status === 401 || status === 403 ? REFUSED : null);
    this.name = "S3Error";
  }
}

const META = "x-amz-meta-";

/** The text of the first <tag> in an XML document (S3's answers are small and regular). */
function xmlValue(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? decodeXml(m[1]!) : undefined;
}

function decodeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

function quoted(etag: string): string {
  return etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"`;
}

/** Reads a stream that must hold exactly `length` bytes. */
async function readExactly(body: ReadableStream<Uint8Array>, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  const reader = new ChunkReader(body);
  for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
    if (filled + chunk.byteLength > length) {
      await reader.cancel();
      throw new Error(`body longer than ${length} bytes`);
    }
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  if (filled !== length) throw new Error(`body of ${filled} bytes, expected ${length}`);
  return out;
}

/** `bytes` as a native stream of known length, written 64 KiB at a time (the caller keeps the buffer until the request answered). */
function streamFrom(bytes: Uint8Array): ReadableStream<Uint8Array> {
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

export class S3Store implements ObjectStore {
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

  private url(key: string, query = ""): string {
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
  private async send(
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
      const text = await res.text().catch(() => "");
      const code = xmlValue(text, "Code") ?? res.statusText;
      if (res.status < 500 && res.status !== 429) throw new S3Error(res.status, code, what);
      failure = `${res.status} ${code}`;
    }
    throw new S3Error(0, failure, `${what} (${attempts} attempts)`);
  }

  /** A response body that fails if the bucket stops sending, rather than hanging its reader. */
  private watched(body: ReadableStream<Uint8Array>, key: string, length: number | undefined): ReadableStream<Uint8Array> {
    const failed = (err: Error) => log("warn", "bucket_read_failed", { key, reason: err.message });
    return watchBody(body, { what: `bucket (${key})`, idleMs: this.options.timeoutMs, length }, failed).body;
  }

  private info(key: string, res: Response): ObjectInfo {
    const customMetadata: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (name.toLowerCase().startsWith(META)) customMetadata[name.slice(META.length).toLowerCase()] = value;
    });
    const range = res.headers.get("content-range");
    const size = range ? Number(range.split("/")[1]) : Number(res.headers.get("content-length") ?? 0);
    return {
      key,
      size,
      etag: quoted(res.headers.get("etag") ?? '""'),
      uploaded: new Date(res.headers.get("last-modified") ?? 0),
      contentType: res.headers.get("content-type") ?? undefined,
      customMetadata,
    };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const res = await this.send(`HEAD ${key}`, this.url(key), { method: "HEAD" }, [200, 404]);
    return res.status === 404 ? null : this.info(key, res);
  }

  async get(key: string, span?: ByteSpan): Promise<ObjectBody | null> {
    const headers: Record<string, string> = span ? { range: `bytes=${span.offset}-${span.offset + span.length - 1}` } : {};
    const res = await this.send(`GET ${key}`, this.url(key), { headers }, [200, 206, 404]);
    if (res.status === 404 || !res.body) {
      await res.body?.cancel();
      return null;
    }
    return this.bodyOf(key, res);
  }

  async getIfUnchanged(key: string, etag: string, span?: ByteSpan): Promise<ObjectBody | null | typeof CHANGED> {
    const headers: Record<string, string> = { "if-match": etag };
    if (span) headers.range = `bytes=${span.offset}-${span.offset + span.length - 1}`;
    // 412: the precondition failed. 416: the span no longer fits, so the object is not the one
    // it was computed from.
    const res = await this.send(`GET ${key}`, this.url(key), { headers }, [200, 206, 404, 412, 416]);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    // Some servers ignore If-Match on GET: the answer's own ETag says which object these bytes are.
    if (res.status === 412 || res.status === 416 || quoted(res.headers.get("etag") ?? '""') !== etag) {
      await res.body?.cancel();
      return CHANGED;
    }
    return this.bodyOf(key, res);
  }

  private bodyOf(key: string, res: Response): ObjectBody {
    const header = res.headers.get("content-length");
    const length = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    const body = res.body ?? new Blob([]).stream();
    return { ...this.info(key, res), body: this.watched(body, key, length), lengthKnown: length !== undefined };
  }

  private headersFor(options: PutOptions): Record<string, string> {
    const headers: Record<string, string> = { "content-type": options.contentType };
    for (const [k, v] of Object.entries(options.customMetadata ?? {})) headers[META + k.toLowerCase()] = v;
    if (options.onlyIfEtag === null) headers["if-none-match"] = "*";
    else if (options.onlyIfEtag !== undefined) headers["if-match"] = options.onlyIfEtag;
    return headers;
  }

  async putStream(key: string, body: ReadableStream<Uint8Array>, length: number | undefined, options: PutOptions): Promise<boolean> {
    if (length !== undefined && length <= this.options.multipartPartBytes) {
      // One part's worth: read it whole first, so a stream that breaks never starts an upload.
      // (Some S3 implementations keep whatever arrived when a streamed body breaks off.)
      const whole = await readExactly(body, length);
      const init = () => ({ method: "PUT", headers: this.headersFor(options), body: streamFrom(whole) });
      const res = await this.send(`PUT ${key}`, this.url(key), init, [200, 412], ATTEMPTS.write, whole.byteLength);
      await res.body?.cancel();
      return res.status === 200;
    }
    // Anything larger, or of unknown length, is a multipart upload: completing it is the commit.
    return this.putMultipart(key, body, options);
  }

  /** Completing the upload is the commit: it happens only after the stream ended cleanly. */
  private async putMultipart(key: string, body: ReadableStream<Uint8Array>, options: PutOptions): Promise<boolean> {
    const { onlyIfEtag: _conditional, ...create } = options;
    const started = await this.send(
      `create multipart ${key}`,
      this.url(key, "?uploads"),
      { method: "POST", headers: this.headersFor(create) },
      [200],
      ATTEMPTS.write,
    );
    const uploadId = xmlValue(await started.text(), "UploadId");
    if (!uploadId) throw new S3Error(started.status, "NoUploadId", `create multipart ${key}`);
    const q = (extra = "") => `?uploadId=${encodeURIComponent(uploadId)}${extra}`;
    try {
      const etags = await this.uploadParts(key, body, q);
      const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
      const done = await this.send(
        `complete multipart ${key}`,
        this.url(key, q()),
        { method: "POST", headers: { "content-type": "application/xml" }, body: xml },
        [200],
        ATTEMPTS.write,
      );
      const text = await done.text();
      // S3 may answer 200 and still report an error in the body.
      if (xmlValue(text, "Code")) throw new S3Error(200, xmlValue(text, "Code")!, `complete multipart ${key}`);
      return true;
    } catch (err) {
      await this.send(`abort multipart ${key}`, this.url(key, q()), { method: "DELETE" }, [200, 204, 404])
        .then((r) => r.body?.cancel())
        .catch(() => {});
      throw err;
    }
  }

  /**
   * Each part is gathered in one buffer (reused for every part), then sent as a stream read from
   * that buffer: a failed part can be sent again, and the runtime makes no copy of it (sending a
   * 16 MiB Uint8Array body copies it, and those copies were most of what an S3 fill cost in memory).
   */
  private async uploadParts(key: string, body: ReadableStream<Uint8Array>, q: (extra?: string) => string): Promise<string[]> {
    const etags: string[] = [];
    const upload = async (part: Uint8Array) => {
      const n = etags.length + 1;
      const init = () => ({ method: "PUT", body: streamFrom(part) });
      const res = await this.send(
        `upload part ${n} of ${key}`,
        this.url(key, q(`&partNumber=${n}`)),
        init,
        [200],
        ATTEMPTS.write,
        part.byteLength,
      );
      await res.body?.cancel();
      etags.push(res.headers.get("etag") ?? "");
    };
    // partsOf reuses its buffer; that is safe because the part's upload has answered (and so read
    // the whole body) before the next part is asked for.
    for await (const part of partsOf(body, this.options.multipartPartBytes)) await upload(part);
    if (etags.length === 0) await upload(new Uint8Array(0));
    return etags;
  }

  async putSmall(key: string, body: string, options: PutOptions): Promise<boolean> {
    // A compare-and-swap write is never retried: a retry after a lost answer would read as a lost race.
    const res = await this.send(
      `PUT ${key}`,
      this.url(key),
      { method: "PUT", headers: this.headersFor(options), body },
      [200, 412],
      options.onlyIfEtag === undefined ? ATTEMPTS.write : 1,
    );
    await res.body?.cancel();
    return res.status === 200;
  }

  async delete(key: string): Promise<void> {
    const res = await this.send(`DELETE ${key}`, this.url(key), { method: "DELETE" }, [200, 204, 404]);
    await res.body?.cancel();
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query = `?list-type=2&prefix=${encodeURIComponent(prefix)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
      const base = this.url("", "").replace(/\/$/, "");
      const res = await this.send(`LIST ${prefix}`, base + query, {}, [200]);
      const xml = await res.text();
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const c = m[1]!;
        yield {
          key: xmlValue(c, "Key")!,
          size: Number(xmlValue(c, "Size") ?? 0),
          etag: quoted(xmlValue(c, "ETag") ?? '""'),
          uploaded: new Date(xmlValue(c, "LastModified") ?? 0),
          contentType: undefined,
          customMetadata: {},
        };
      }
      token = xmlValue(xml, "IsTruncated") === "true" ? xmlValue(xml, "NextContinuationToken") : undefined;
    } while (token);
  }
}
