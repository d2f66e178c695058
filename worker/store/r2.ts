import { CHANGED, StorageError, type ByteSpan, type ObjectBody, type ObjectInfo, type ObjectStore, type PutOptions } from "./store";
import { partsOf } from "./parts";

export interface R2StoreOptions {
  multipartThresholdBytes: number;
  multipartPartBytes: number;
}

/**
 * A failure of the R2 binding, in R2's words (its messages end with R2's error code, such as
 * "(10001)"). A binding carries no credentials, so R2 never refuses: every failure is an outage.
 */
class R2Error extends StorageError {
  constructor(what: string, cause: unknown) {
    super(`R2 ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, null, { cause });
    this.name = "R2Error";
  }
}

/** One call of the binding, its failure as an R2Error. */
async function r2<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw err instanceof StorageError ? err : new R2Error(what, err);
  }
}

const bare = (etag: string) => etag.replace(/^"|"$/g, "");

function info(obj: R2Object): ObjectInfo {
  return {
    key: obj.key,
    size: obj.size,
    etag: obj.httpEtag,
    uploaded: obj.uploaded,
    contentType: obj.httpMetadata?.contentType,
    customMetadata: obj.customMetadata ?? {},
  };
}

function conditional(options: PutOptions): R2PutOptions["onlyIf"] {
  if (options.onlyIfEtag === undefined) return undefined;
  if (options.onlyIfEtag === null) return { etagDoesNotMatch: "*" }; // only if there is no object yet
  return { etagMatches: bare(options.onlyIfEtag) };
}

function metadata(options: PutOptions): { httpMetadata: R2HTTPMetadata; customMetadata?: Record<string, string> } {
  // Keys lowercased as S3 stores them, so both backends read back the same names.
  const custom = options.customMetadata && Object.fromEntries(Object.entries(options.customMetadata).map(([k, v]) => [k.toLowerCase(), v]));
  return { httpMetadata: { contentType: options.contentType }, customMetadata: custom };
}

/** The R2 binding as an ObjectStore. */
export class R2Store implements ObjectStore {
  constructor(
    private readonly bucket: R2Bucket,
    private readonly options: R2StoreOptions,
  ) {}

  async head(key: string): Promise<ObjectInfo | null> {
    const obj = await r2(`head ${key}`, () => this.bucket.head(key));
    return obj ? info(obj) : null;
  }

  async get(key: string, span?: ByteSpan): Promise<ObjectBody | null> {
    const obj = await r2(`get ${key}`, () => this.bucket.get(key, span ? { range: span } : undefined));
    if (!obj) return null;
    return { ...info(obj), body: obj.body, lengthKnown: true };
  }

  async getIfUnchanged(key: string, etag: string, span?: ByteSpan): Promise<ObjectBody | null | typeof CHANGED> {
    const obj = await r2(`get ${key}`, () => this.bucket.get(key, { range: span, onlyIf: { etagMatches: bare(etag) } }));
    if (!obj) return null;
    // R2 answers a precondition that failed with the current object's metadata and no body.
    if (!("body" in obj)) return CHANGED;
    if (obj.httpEtag !== etag) {
      await obj.body.cancel();
      return CHANGED;
    }
    return { ...info(obj), body: obj.body, lengthKnown: true };
  }

  async putStream(key: string, body: ReadableStream<Uint8Array>, length: number | undefined, options: PutOptions): Promise<boolean> {
    if (length !== undefined && length <= this.options.multipartThresholdBytes) {
      // R2 put of a stream needs a known length: `body` carries it (see ObjectStore.putStream).
      // A body that breaks fails the put too; the R2Error then carries the body's own reason.
      const written = await r2(`put ${key}`, () => this.bucket.put(key, body, { ...metadata(options), onlyIf: conditional(options) }));
      return written !== null;
    }
    return this.putMultipart(key, body, options);
  }

  /** Completing the upload is the commit: it happens only after the stream ended cleanly. */
  private async putMultipart(key: string, body: ReadableStream<Uint8Array>, options: PutOptions): Promise<boolean> {
    const upload = await r2(`create multipart ${key}`, () => this.bucket.createMultipartUpload(key, metadata(options)));
    try {
      const parts: R2UploadedPart[] = [];
      // A failure of `body` itself (a rejected fill) is the caller's and passes as it is.
      for await (const part of partsOf(body, this.options.multipartPartBytes)) {
        const n = parts.length + 1;
        parts.push(await r2(`upload part ${n} of ${key}`, () => upload.uploadPart(n, part)));
      }
      if (parts.length === 0) parts.push(await r2(`upload part 1 of ${key}`, () => upload.uploadPart(1, new Uint8Array(0))));
      await r2(`complete multipart ${key}`, () => upload.complete(parts));
      return true;
    } catch (err) {
      await upload.abort().catch(() => {});
      throw err;
    }
  }

  async putSmall(key: string, body: string, options: PutOptions): Promise<boolean> {
    const written = await r2(`put ${key}`, () => this.bucket.put(key, body, { ...metadata(options), onlyIf: conditional(options) }));
    return written !== null;
  }

  async delete(key: string): Promise<void> {
    await r2(`delete ${key}`, () => this.bucket.delete(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let cursor: string | undefined;
    do {
      const page = await r2(`list ${prefix}`, () => this.bucket.list({ prefix, cursor, include: ["httpMetadata", "customMetadata"] }));
      for (const obj of page.objects) yield info(obj);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor !== undefined);
  }
}
