/**
 * Any S3-compatible bucket (AWS S3, MinIO, Ceph, Backblaze B2, R2's S3 endpoint) as an
 * ObjectStore, over HTTP with SigV4 (aws4fetch: small enough for the worker bundle, unlike the
 * AWS SDK). Same contract as the R2 binding: an object appears only if its body stream ended
 * cleanly; objects larger than one part, or of unknown length, go up as multipart uploads
 * completed at the end. Compare-and-swap writes (registry lists) need a bucket that honours
 * If-Match / If-None-Match on PutObject, as AWS S3, R2's S3 API and MinIO do.
 */

import { CHANGED, type ByteSpan, type ObjectBody, type ObjectInfo, type ObjectStore, type PutOptions } from "./store";
import { xmlValue } from "./s3-error";
import { putMultipart } from "./s3-multipart";
import { ATTEMPTS, S3Requests, streamFrom, type S3StoreOptions } from "./s3-requests";
import { watchBody } from "../streams/watchdog";
import { ChunkReader } from "../streams/bytes";
import { log } from "../log";

const META = "x-amz-meta-";

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

export class S3Store implements ObjectStore {
  private readonly s3: S3Requests;

  constructor(private readonly options: S3StoreOptions) {
    this.s3 = new S3Requests(options);
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
    const res = await this.s3.send(`HEAD ${key}`, this.s3.url(key), { method: "HEAD" }, [200, 404]);
    return res.status === 404 ? null : this.info(key, res);
  }

  async get(key: string, span?: ByteSpan): Promise<ObjectBody | null> {
    const headers: Record<string, string> = span ? { range: `bytes=${span.offset}-${span.offset + span.length - 1}` } : {};
    const res = await this.s3.send(`GET ${key}`, this.s3.url(key), { headers }, [200, 206, 404]);
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
    const res = await this.s3.send(`GET ${key}`, this.s3.url(key), { headers }, [200, 206, 404, 412, 416]);
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
      const res = await this.s3.send(`PUT ${key}`, this.s3.url(key), init, [200, 412], ATTEMPTS.write, whole.byteLength);
      await res.body?.cancel();
      return res.status === 200;
    }
    // Anything larger, or of unknown length, is a multipart upload: completing it is the commit.
    return this.putMultipart(key, body, options);
  }

  private putMultipart(key: string, body: ReadableStream<Uint8Array>, options: PutOptions): Promise<boolean> {
    const { onlyIfEtag: _conditional, ...create } = options;
    return putMultipart(this.s3, key, body, this.headersFor(create), this.options.multipartPartBytes);
  }

  async putSmall(key: string, body: string, options: PutOptions): Promise<boolean> {
    // A compare-and-swap write is never retried: a retry after a lost answer would read as a lost race.
    const res = await this.s3.send(
      `PUT ${key}`,
      this.s3.url(key),
      { method: "PUT", headers: this.headersFor(options), body },
      [200, 412],
      options.onlyIfEtag === undefined ? ATTEMPTS.write : 1,
    );
    await res.body?.cancel();
    return res.status === 200;
  }

  async delete(key: string): Promise<void> {
    const res = await this.s3.send(`DELETE ${key}`, this.s3.url(key), { method: "DELETE" }, [200, 204, 404]);
    await res.body?.cancel();
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query = `?list-type=2&prefix=${encodeURIComponent(prefix)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
      const base = this.s3.url("", "").replace(/\/$/, "");
      const res = await this.s3.send(`LIST ${prefix}`, base + query, {}, [200]);
      const xml = await this.s3.text(`LIST ${prefix}`, res);
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
