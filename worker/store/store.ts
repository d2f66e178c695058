/**
 * The one storage interface every caller uses. Keys are protocol paths without the leading slash
 * (`package/<uuid>/<hash>`, `registries.eager`), so the bucket is itself a static storage server.
 * Backends implement it; nothing outside the factory knows which backend is in use.
 */

/**
 * What an operator must look at when the bucket refused pkgedge: the backend's own words, and the
 * settings that hold what it refused (each backend names its own).
 */
export interface Refusal {
  error: string;
  variables: readonly string[];
}

/**
 * The bucket failed (after the backend's own retries): refused when `refusal` says why, otherwise
 * unavailable. Backends throw it (or a subclass) for every failure of the bucket itself, in their
 * own words; callers need not know which backend.
 */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly refusal: Refusal | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StorageError";
  }

  get refused(): boolean {
    return this.refusal !== null;
  }
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** A quoted, strong HTTP entity tag. */
  etag: string;
  uploaded: Date;
  contentType: string | undefined;
  customMetadata: Record<string, string>;
}

export interface ObjectBody extends ObjectInfo {
  body: ReadableStream<Uint8Array>;
  /**
   * The runtime already knows the body's length (R2's bodies do), so a response can stream it as
   * it is, with Content-Length, and no JS stage in between; otherwise it goes through a
   * FixedLengthStream.
   */
  lengthKnown: boolean;
}

export interface PutOptions {
  contentType: string;
  /** Read back with lowercase keys on every backend (S3 folds metadata names to lowercase). */
  customMetadata?: Record<string, string>;
  /** Only write if the stored object still has this etag (or, with null, if there is none). */
  onlyIfEtag?: string | null;
}

/** A byte range of a stored object: `length` bytes from `offset`. */
export interface ByteSpan {
  offset: number;
  length: number;
}

/** What getIfUnchanged answers when the object now has another etag than the one asked for. */
export const CHANGED = "changed";

export interface ObjectStore {
  head(key: string): Promise<ObjectInfo | null>;
  get(key: string, span?: ByteSpan): Promise<ObjectBody | null>;
  /**
   * Reads the object (or a span of it) only if it still has `etag`, the one its metadata was read
   * with: CHANGED when another object was written under the key since, null when it is gone. The
   * bytes returned are always those of `etag`, so metadata and bytes read apart cannot mix versions.
   */
  getIfUnchanged(key: string, etag: string, span?: ByteSpan): Promise<ObjectBody | null | typeof CHANGED>;
  /**
   * Writes a whole object from a stream. With `length` known and under the multipart threshold
   * this is a single put; otherwise a multipart upload. Either way the object appears only if the
   * stream ends cleanly: a stream that errors (a failed verification, a short body) writes nothing.
   * Resolves to false when an `onlyIfEtag` precondition did not hold. With `length` known, `body`
   * must carry it (a FixedLengthStream's readable, see Outlet, or a fetch body), so that a body
   * ending short or running long errors rather than ends.
   */
  putStream(key: string, body: ReadableStream<Uint8Array>, length: number | undefined, options: PutOptions): Promise<boolean>;
  /** Writes a small object held in memory (registry lists, state). */
  putSmall(key: string, body: string, options: PutOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
}
