/**
 * A tarball's zstd variant (protocol.md §4.4): the same tar, zstd-compressed, stored beside the
 * gzip copy under `<key>.tar.zst`. It is made from the verified gzip copy in the bucket — gunzip,
 * zstd-encode, and decode the encoder's output again through the zstd verifier — and stored only
 * once that decoded tar has the resource's tree hash, so neither a bad gzip copy nor a fault in
 * encoding is ever served. Clients are never made to wait for it: it is made after the gzip answer.
 */

import { parseResourcePath, type Resource } from "../protocol/paths";
import { zstdKey } from "./keys";

export { zstdKey };
import type { Config } from "../config";
import { StorageError, type ObjectStore } from "../store/store";
import { acceptTreeHash } from "../verify/rule";
import { createTarZstHasher } from "../verify/zstd";
import { zstdEncoder, type Codec } from "../verify/zstd-codec";
import { Batch, Outlet } from "../streams/bytes";
import { log } from "../log";
import type { VariantRecord } from "../fill/records";

export const ZSTD_CONTENT_TYPE = "application/zstd";

const VARIANT_META = {
  /** The ETag of the gzip copy it was made from. */
  from: "from-etag",
  treeHash: "tree-hash",
} as const;

export type Transcoded =
  | { made: true; bytes: number; gzipBytes: number; tarBytes: number }
  | { made: false; why: "off" | "present" | "no-gzip-copy" | "too-large" | "refused"; detail: string };

/** Variants up to this size are written with one put once verified; larger ones as a multipart upload held open until then. */
const SINGLE_PUT_BYTES = 8 * 1024 * 1024;

/** Reads a codec's output to its end, handing each chunk on (awaited: the codec waits for its reader). */
async function drain(codec: Codec, each: (chunk: Uint8Array) => Promise<void>): Promise<void> {
  for (let next = await codec.output.next(); !next.done; next = await codec.output.next()) await each(next.value);
}

/** Copies a stream into a writable by hand: workerd cannot pipe some native streams (a watched S3 body) into a transform. */
async function pump(from: ReadableStream<Uint8Array>, into: WritableStream<Uint8Array>): Promise<void> {
  const reader = from.getReader();
  const writer = into.getWriter();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) await writer.write(next.value);
    await writer.close();
  } catch (err) {
    void writer.abort(err).catch(() => {});
    void reader.cancel(err).catch(() => {});
    throw err;
  }
}

/** Feeds the gzip copy's tar into the encoder and ends it; resolves to the tar's length. */
async function feedTar(gzipped: ReadableStream<Uint8Array>, encoder: Codec): Promise<number> {
  const gunzip = new DecompressionStream("gzip");
  const reader = gunzip.readable.getReader();
  let tarBytes = 0;
  const encode = async () => {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      tarBytes += next.value.byteLength;
      await encoder.write(next.value);
    }
    encoder.end();
  };
  try {
    await Promise.all([pump(gzipped, gunzip.writable), encode()]);
    return tarBytes;
  } catch (err) {
    encoder.destroy(err);
    void reader.cancel(err).catch(() => {});
    throw err;
  }
}

/**
 * Makes and stores the zstd variant of a tarball whose gzip copy is in the bucket, unless it is
 * there already or the copy is larger than ZSTD_MAX_TRANSCODE_BYTES. Throws on a failure of the
 * bucket; a variant that does not verify is refused, and nothing is stored.
 */
async function makeZstdVariant(store: ObjectStore, config: Config, resource: Resource): Promise<Transcoded> {
  const key = zstdKey(resource.key);
  if (await store.head(key)) return { made: false, why: "present", detail: key };
  // Its size first: a copy too large to transcode is never opened.
  const info = await store.head(resource.key);
  if (info && (config.zstd.maxTranscodeBytes === 0 || info.size > config.zstd.maxTranscodeBytes)) {
    return {
      made: false,
      why: "too-large",
      detail: `${info.size} bytes, over ZSTD_MAX_TRANSCODE_BYTES (${config.zstd.maxTranscodeBytes})`,
    };
  }
  const gzip = info && (await store.get(resource.key));
  if (!gzip || gzip.size > config.zstd.maxTranscodeBytes) {
    await gzip?.body.cancel();
    return { made: false, why: "no-gzip-copy", detail: resource.key };
  }
  const encoder = zstdEncoder(config.zstd.level, config.zstd.maxWindowBytes);
  const hasher = createTarZstHasher({
    maxWindowBytes: config.zstd.maxWindowBytes,
    maxEntries: config.verifyMaxEntries,
    maxDecompressedBytes: config.verifyMaxDecompressedBytes,
  });
  const small = new Batch(SINGLE_PUT_BYTES);
  let large = null as { outlet: Outlet; write: Promise<boolean> } | null;
  let bytes = 0;
  const putOptions = {
    contentType: ZSTD_CONTENT_TYPE,
    customMetadata: { [VARIANT_META.from]: gzip.etag, [VARIANT_META.treeHash]: resource.treeHash },
  };
  const keep = async (chunk: Uint8Array) => {
    bytes += chunk.byteLength;
    await hasher.write(chunk);
    if (large) return large.outlet.write(chunk);
    const used = small.take(chunk);
    if (used === chunk.byteLength && !small.full) return;
    // Past what one put holds: a multipart upload, completed only once the variant verified.
    const outlet = new Outlet();
    large = { outlet, write: store.putStream(key, outlet.readable, undefined, putOptions) };
    large.write.catch((err) => outlet.abort(err));
    await outlet.write(small.drain());
    if (used < chunk.byteLength) await outlet.write(chunk.subarray(used));
  };
  try {
    const [tarBytes] = await Promise.all([feedTar(gzip.body, encoder), drain(encoder, keep)]);
    const accepted = acceptTreeHash(resource.kind, resource.treeHash, await hasher.finish());
    if (!accepted.ok) throw new VariantRefused(`its tar failed the check: ${accepted.reason}`);
    if (large) {
      await large.outlet.close();
      await large.write;
    } else {
      const whole = small.drain();
      const outlet = new Outlet(whole.byteLength);
      const write = store.putStream(key, outlet.readable, whole.byteLength, putOptions);
      await outlet.write(whole);
      await outlet.close();
      await write;
    }
    return { made: true, bytes, gzipBytes: gzip.size, tarBytes };
  } catch (err) {
    // Whichever side failed, the other stops too: the tar feed, the encoder, the check, the upload.
    encoder.destroy(err);
    hasher.abort(err);
    large?.outlet.abort(err);
    await large?.write.catch(() => {});
    // The bucket failing is worth another try later; anything else (the copy's gzip, the variant's
    // check, a bound) would fail the same way again: refused, and remembered by the VariantMaker.
    if (err instanceof StorageError) throw err;
    const detail =
      err instanceof VariantRefused || !(err instanceof Error)
        ? String(err instanceof Error ? err.message : err)
        : `${err.name}: ${err.message}`;
    return { made: false, why: "refused", detail };
  }
}

class VariantRefused extends Error {}

/** makeZstdVariant, logged: `zstd_made`, `zstd_skipped` (too large) or `zstd_refused` (did not verify). */
async function makeZstdVariantLogged(store: ObjectStore, config: Config, resource: Resource): Promise<Transcoded> {
  const started = Date.now();
  const result = await makeZstdVariant(store, config, resource);
  const key = zstdKey(resource.key);
  if (result.made)
    log("info", "zstd_made", {
      key,
      bytes: result.bytes,
      gzipBytes: result.gzipBytes,
      tarBytes: result.tarBytes,
      ms: Date.now() - started,
    });
  else if (result.why === "too-large") log("info", "zstd_skipped", { key, detail: result.detail });
  else if (result.why === "refused") log("error", "zstd_refused", { key, detail: result.detail });
  return result;
}

/**
 * One resource's variant, made once however many requests ask (a fill coordinator holds one). A
 * tarball too large to transcode, whose variant could not be made or verified, or whose attempt
 * never finished, is not tried again for a week (records.ts).
 */
export class VariantMaker {
  private making: Promise<Transcoded> | null = null;

  /**
   * `kept` is the coordinator's storage: an attempt is recorded before it starts, so one the CPU
   * limit cut short (the object is reset, its memory lost) is found unfinished by the next and given
   * up on, instead of burning the limit again on every zstd request.
   */
  async make(store: ObjectStore, config: Config, spec: { kind: string; key?: string }, kept: DurableObjectStorage): Promise<Transcoded> {
    const resource = spec.kind === "tarball" && spec.key ? parseResourcePath("/" + spec.key) : null;
    if (!resource || config.zstd.mode !== "on") return { made: false, why: "off", detail: "not a tarball, or ZSTD is not on" };
    this.making ??= this.attempt(store, config, resource, kept).finally(() => (this.making = null));
    return this.making;
  }

  private async attempt(store: ObjectStore, config: Config, resource: Resource, kept: DurableObjectStorage): Promise<Transcoded> {
    const record = await kept.get<VariantRecord>("variant");
    if (record?.gaveUp) return { made: false, why: "refused", detail: record.gaveUp };
    if (record) {
      const gaveUp = `an earlier attempt (started ${new Date(record.startedAt).toISOString()}) never finished: the CPU limit?`;
      await kept.put("variant", { ...record, gaveUp } satisfies VariantRecord);
      log("info", "zstd_skipped", { key: zstdKey(resource.key), detail: gaveUp });
      return { made: false, why: "too-large", detail: gaveUp };
    }
    await kept.put("variant", { startedAt: Date.now() } satisfies VariantRecord);
    let result: Transcoded;
    try {
      result = await makeZstdVariantLogged(store, config, resource);
    } catch (err) {
      await kept.delete("variant"); // the bucket failed: worth another try
      throw err;
    }
    if (!result.made && (result.why === "too-large" || result.why === "refused")) {
      await kept.put("variant", { startedAt: Date.now(), gaveUp: result.detail } satisfies VariantRecord);
    } else await kept.delete("variant");
    return result;
  }
}
