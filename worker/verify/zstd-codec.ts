/**
 * zstd as the runtime provides it (node:zlib, native in workerd and Node 22), as something JS
 * writes into and reads from with backpressure: a write waits while the codec's buffer is full,
 * and its output is read at the reader's pace.
 */

import { constants, createZstdCompress, createZstdDecompress } from "node:zlib";

/** What this module uses of a Node zstd stream (workerd's and Node's alike). */
interface ZstdStream {
  write(chunk: Uint8Array, done: (err?: Error | null) => void): boolean;
  end(): void;
  destroy(error?: Error): void;
  on(event: string, listener: (err: Error) => void): unknown;
  once(event: string, listener: (err: Error) => void): unknown;
  off(event: string, listener: (err: Error) => void): unknown;
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
}

export interface Codec {
  /** Resolves once the codec has taken the chunk in; rejects once it failed. */
  write(chunk: Uint8Array): Promise<void>;
  /** No more input. */
  end(): void;
  /** The output, in order; throws the codec's error. */
  output: AsyncIterator<Uint8Array>;
  destroy(reason: unknown): void;
}

function codecOf(stream: ZstdStream): Codec {
  let failure: Error | null = null;
  // Kept for good: an "error" with no listener would be thrown by the stream's emitter.
  stream.on("error", (err) => (failure ??= err));
  const output = stream[Symbol.asyncIterator]();
  return {
    async write(chunk) {
      if (failure) throw failure;
      // Resolved once the codec has run on the chunk, not when it was merely queued: a zstd encoder
      // ended while input is still queued ends its frame on that input and then writes a second,
      // empty frame (node:zlib, in Node 22 and workerd alike), which pkgedge's check then refuses.
      await new Promise<void>((resolve, reject) => {
        const failed = (err: Error) => reject(failure ?? err);
        stream.once("error", failed); // a codec that failed may never call back
        stream.write(chunk, (err) => {
          stream.off("error", failed);
          if (err) reject(failure ?? err);
          else resolve();
        });
      });
    },
    end: () => stream.end(),
    output,
    destroy: (reason) => stream.destroy(reason instanceof Error ? reason : new Error(String(reason))),
  };
}

/** The largest window log (zstd's windows are powers of two, plus eighths) within `bytes`. */
function windowLogWithin(bytes: number): number {
  return Math.max(10, Math.floor(Math.log2(bytes)));
}

/** A zstd encoder at `level` whose frames need at most a `maxWindowBytes` window, with content checksums (`zstd -d` checks them). */
export function zstdEncoder(level: number, maxWindowBytes: number): Codec {
  return codecOf(
    createZstdCompress({
      params: {
        [constants.ZSTD_c_compressionLevel]: level,
        [constants.ZSTD_c_windowLog]: Math.min(windowLogWithin(maxWindowBytes), 23),
        [constants.ZSTD_c_checksumFlag]: 1,
      },
    }),
  );
}

/**
 * A zstd decoder that refuses frames needing a window over `maxWindowBytes` (rounded up to the next
 * power of two: the frame walker in front of it holds the exact bound).
 */
export function zstdDecoder(maxWindowBytes: number): Codec {
  return codecOf(createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: Math.ceil(Math.log2(maxWindowBytes)) } }));
}
