import type { ByteSpan, ObjectBody, ObjectInfo, ObjectStore, PutOptions } from "./store";
import { partsOf } from "./parts";

export interface R2StoreOptions {
  multipartThresholdBytes: number;
  multipartPartBytes: number;
}

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
  return { etagMatches: options.onlyIfEtag.replace(/^"|"$/g, "") };
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
    const obj = await this.bucket.head(key);
    return obj ? info(obj) : null;
  }

  async get(key: string, span?: ByteSpan): Promise<ObjectBody | null> {
    const obj = await this.bucket.get(key, span ? { range: span } : undefined);
    if (!obj) return null;
    return { ...info(obj), body: obj.body, lengthKnown: true };
  }

  async putStream(key: string, body: ReadableStream<Uint8Array>, length: number | undefined, options: PutOptions): Promise<boolean> {
    if (length !== undefined && length <= this.options.multipartThresholdBytes) {
      // R2 put of a stream needs a known length: `body` carries it (see ObjectStore.putStream).
      const written = await this.bucket.put(key, body, { ...metadata(options), onlyIf: conditional(options) });
      return written !== null;
    }
    return this.putMultipart(key, body, options);
  }

  /** Completing the upload is the commit: it happens only after the stream ended cleanly. */
  private async putMultipart(key: string, body: ReadableStream<Uint8Array>, options: PutOptions): Promise<boolean> {
    const upload = await this.bucket.createMultipartUpload(key, metadata(options));
    try {
      const parts: R2UploadedPart[] = [];
      for await (const part of partsOf(body, this.options.multipartPartBytes)) {
        parts.push(await upload.uploadPart(parts.length + 1, part));
      }
      if (parts.length === 0) parts.push(await upload.uploadPart(1, new Uint8Array(0)));
      await upload.complete(parts);
      return true;
    } catch (err) {
      await upload.abort().catch(() => {});
      throw err;
    }
  }

  async putSmall(key: string, body: string, options: PutOptions): Promise<boolean> {
    const written = await this.bucket.put(key, body, { ...metadata(options), onlyIf: conditional(options) });
    return written !== null;
  }

  async delete(key: string): Promise<void> {
    await this.bucket.delete(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let cursor: string | undefined;
    do {
      const page = await this.bucket.list({ prefix, cursor, include: ["httpMetadata", "customMetadata"] });
      for (const obj of page.objects) yield info(obj);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor !== undefined);
  }
}
