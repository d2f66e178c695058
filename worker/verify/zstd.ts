/**
 * Verifying a zstd-compressed tarball as it streams by (protocol.md §4.4): the frame walker refuses
 * a window over the bound, a dictionary or a malformed frame before the decoder sees it; the
 * runtime's zstd decoder (bounded to the same window) feeds the same tar reader, tree builder and
 * expansion bound as gzip (verify.ts). The tree hash is the tar's, whatever compressed it.
 */

import { ExpansionBound, hashDecompressed, type ChunkSource, type HashOptions, type TarGzHasher, type TreeHashes } from "./verify.ts";
import { ZstdFrameGuard } from "./zstd-frames.ts";
import { zstdDecoder } from "./zstd-codec.ts";

export { ZstdRefused } from "./zstd-frames.ts";

export interface ZstdHashOptions extends HashOptions {
  /** Frames needing a larger window are refused (ZSTD_MAX_WINDOW_BYTES). */
  maxWindowBytes: number;
}

/**
 * A zstd tarball's bytes in, as `createTarGzHasher` takes a gzip one's: hashes at the end, or the
 * first refusal. The decompressed-size bound applies; the ratio bound does not: with its 8 MiB
 * window and long matches, zstd compresses real tarballs (repeated libraries, repeated data) far
 * past any ratio that tells a gzip bomb, so a tarball whose gzip passed would be refused as zstd.
 */
export function createTarZstHasher(options: ZstdHashOptions): TarGzHasher {
  const guard = new ZstdFrameGuard(options.maxWindowBytes);
  const decoder = zstdDecoder(options.maxWindowBytes);
  const bound = new ExpansionBound({ ...options, maxRatio: Number.POSITIVE_INFINITY });
  const decoded: ChunkSource = {
    read: async () => {
      const next = await decoder.output.next();
      return next.done ? null : next.value;
    },
    cancel: async (reason) => decoder.destroy(reason),
  };
  const consumed = hashDecompressed(decoded, options, bound);
  let failure: unknown = null;
  consumed.catch((err) => (failure = err));

  const fail = (err: unknown): never => {
    failure ??= err;
    decoder.destroy(err);
    throw failure;
  };
  return {
    async write(chunk) {
      if (failure) throw failure;
      try {
        guard.push(chunk);
      } catch (err) {
        fail(err);
      }
      bound.compressed += chunk.byteLength;
      // The decoder may keep the chunk: it gets its own copy (callers reuse their buffers).
      await decoder.write(chunk.slice()).catch((err) => fail(failure ?? err));
    },
    async finish(): Promise<TreeHashes> {
      if (failure) throw failure;
      try {
        guard.finish();
      } catch (err) {
        fail(err);
      }
      decoder.end();
      return consumed;
    },
    abort(reason) {
      failure ??= reason;
      decoder.destroy(reason);
    },
    progress: () => ({ compressed: bound.compressed, decompressed: bound.decompressedSoFar }),
  };
}

/** Both tree hashes of a whole zstd tarball stream. */
export async function treeHashOfTarZst(body: ReadableStream<Uint8Array>, options: ZstdHashOptions): Promise<TreeHashes> {
  const hasher = createTarZstHasher(options);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await hasher.write(value);
    }
  } catch (err) {
    hasher.abort(err);
    void reader.cancel(err).catch(() => {});
    throw err;
  }
  return hasher.finish();
}
