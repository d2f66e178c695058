/**
 * Verifying a gzipped tarball as it streams by: gunzip (DecompressionStream) → tar reader → tree
 * builder, computing both tree hashes in one pass. Independent of Hono, the bucket and fetch, so
 * the fill path, tests, benchmarks and operator tools all use the same code.
 */

import { TarReader, TarError } from "./tar";
import { TreeBuilder, type TreeHashes } from "./tree";

export type { TreeHashes };
export { TarError };

export interface TarGzHasher {
  /** Feeds compressed bytes; resolves when they have been taken (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
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

export function createTarGzHasher(): TarGzHasher {
  const gunzip = new DecompressionStream("gzip");
  const writer = gunzip.writable.getWriter();
  const tree = new TreeBuilder();
  const tar = new TarReader(tree);
  // Reads decompressed bytes into the tar reader until the gzip stream ends (or fails).
  const consumed = (async () => {
    const reader = gunzip.readable.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await tar.push(value);
      }
      tar.finish();
    } catch (err) {
      reader.cancel(err).catch(() => {});
      throw explain(err);
    }
  })();
  // Surface a failure on the next write instead of waiting for finish().
  let failure: unknown = null;
  consumed.catch((err) => (failure = err));

  return {
    async write(chunk) {
      if (failure) throw failure;
      await Promise.race([writer.write(chunk).catch((err) => Promise.reject(explain(err))), consumed.then(() => {})]);
      if (failure) throw failure;
    },
    async finish() {
      if (failure) throw failure;
      await writer.close().catch((err) => {
        throw failure ?? explain(err);
      });
      await consumed;
      return tree.hashes();
    },
    abort(reason) {
      writer.abort(reason).catch(() => {});
    },
  };
}

/** Both tree hashes of a whole gzipped tarball stream. */
export async function treeHashOfTarGz(body: ReadableStream<Uint8Array>): Promise<TreeHashes> {
  const hasher = createTarGzHasher();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await hasher.write(value);
    }
  } catch (err) {
    hasher.abort(err);
    throw err;
  }
  return hasher.finish();
}
