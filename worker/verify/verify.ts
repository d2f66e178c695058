/**
 * Verifying a gzipped tarball as it streams by: gunzip (DecompressionStream) → tar reader → tree
 * builder, computing both tree hashes in one pass. Independent of Hono, the bucket and fetch, so
 * the fill path, tests, benchmarks and operator tools all use the same code.
 */

import { TarReader, TarError } from "./tar.ts";
import { TreeBuilder, type StreamingSha1, type TreeHashes } from "./tree.ts";

export type { StreamingSha1, TreeHashes };
export { TarError };

export interface TarGzHasher {
  /**
   * Feeds compressed bytes (copied: the caller may reuse its buffer). Returns a promise only when a
   * batch went to the decompressor, so callers get backpressure without a promise per small chunk.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /** No more bytes: resolves to the hashes, or rejects if the gzip or tar stream did not end properly. */
  finish(): Promise<TreeHashes>;
  /** Stops early, releasing everything. */
  abort(reason: unknown): void;
}

/**
 * workerd's gunzip stops at the end of the first gzip member and calls anything after it trailing
 * bytes, without saying where the member ended; so a multi-member gzip (spec §7.1) cannot be
 * followed into its next member and is rejected. Tarballs from Tar.create, gzip and 7z are single-member.
 */
function explain(err: unknown): unknown {
  if (err instanceof Error && /trailing bytes/i.test(err.message)) {
    return new Error("data after the end of the gzip stream (a second gzip member, or junk); multi-member gzip is not supported");
  }
  return err;
}

const BATCH_BYTES = 64 * 1024;

/**
 * Reads decompressed bytes into the tar reader until the gzip stream ends (or fails), then
 * resolves to the hashes. workerd hands out 4 KiB pieces; batching them costs one copy and saves
 * most of the per-chunk work (promises, digest writes) downstream.
 */
async function hashDecompressed(decompressed: ReadableStream<Uint8Array>, options: HashOptions): Promise<TreeHashes> {
  const tree = new TreeBuilder(options.sha1, options.maxEntries);
  const tar = new TarReader(tree);
  const reader = decompressed.getReader();
  const batch = new Uint8Array(BATCH_BYTES);
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.byteLength > BATCH_BYTES) {
        await tar.push(batch.subarray(0, filled));
        filled = 0;
      }
      if (value.byteLength >= BATCH_BYTES) {
        await tar.push(value);
        continue;
      }
      batch.set(value, filled);
      filled += value.byteLength;
    }
    if (filled > 0) await tar.push(batch.subarray(0, filled));
    tar.finish();
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw explain(err);
  }
  return tree.hashes();
}

export interface HashOptions {
  /** An incremental SHA-1 where crypto.DigestStream does not exist (Node). */
  sha1?: () => StreamingSha1;
  /** Archives with more entries are refused (the tree is held in memory). */
  maxEntries?: number;
}

/** The push form, for the fill: bytes arrive as the commit gate passes them on. */
export function createTarGzHasher(options: HashOptions = {}): TarGzHasher {
  const gunzip = new DecompressionStream("gzip");
  const writer = gunzip.writable.getWriter();
  const consumed = hashDecompressed(gunzip.readable, options);
  // Surface a failure on the next write instead of waiting for finish().
  let failure: unknown = null;
  consumed.catch((err) => (failure = err));

  // Compressed bytes are batched too: writing workerd's 4 KiB pieces one by one into the gunzip
  // stream costs more than the decompression itself.
  let pending = new Uint8Array(BATCH_BYTES);
  let pendingFill = 0;
  const send = async (bytes: Uint8Array) => {
    await Promise.race([writer.write(bytes).catch((err) => Promise.reject(explain(err))), consumed.then(() => {})]);
    if (failure) throw failure;
  };
  const flush = async () => {
    if (pendingFill === 0) return;
    const full = pending.subarray(0, pendingFill);
    pending = new Uint8Array(BATCH_BYTES);
    pendingFill = 0;
    await send(full);
  };

  return {
    write(chunk) {
      if (failure) throw failure;
      if (chunk.byteLength >= BATCH_BYTES) return flush().then(() => send(chunk.slice()));
      if (pendingFill + chunk.byteLength > BATCH_BYTES) {
        const flushed = flush();
        pending.set(chunk, 0);
        pendingFill = chunk.byteLength;
        return flushed;
      }
      pending.set(chunk, pendingFill);
      pendingFill += chunk.byteLength;
    },
    async finish() {
      if (failure) throw failure;
      await flush();
      await writer.close().catch((err) => {
        throw failure ?? explain(err);
      });
      return consumed;
    },
    abort(reason) {
      writer.abort(reason).catch(() => {});
    },
  };
}

/** Both tree hashes of a whole gzipped tarball stream (the compressed side piped natively). */
export async function treeHashOfTarGz(body: ReadableStream<Uint8Array>, options: HashOptions = {}): Promise<TreeHashes> {
  const gunzip = new DecompressionStream("gzip");
  const piped = body.pipeTo(gunzip.writable).catch((err) => Promise.reject(explain(err)));
  const [hashes] = await Promise.all([hashDecompressed(gunzip.readable, options), piped]);
  return hashes;
}
