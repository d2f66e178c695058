import { ChunkReader } from "../streams/bytes";

/**
 * Cuts a byte stream into parts of exactly `partBytes` (the last one shorter), holding at most
 * one part in memory. Multipart uploads need equal-sized parts of at least 5 MiB. The same buffer
 * is reused for every part: the consumer must be done with a part (its upload resolved) before it
 * asks for the next.
 */

export async function* partsOf(body: ReadableStream<Uint8Array>, partBytes: number): AsyncGenerator<Uint8Array> {
  const reader = new ChunkReader(body);
  const part = new Uint8Array(partBytes);
  let filled = 0;
  let finished = false;
  try {
    for (;;) {
      const value = await reader.read();
      if (value === null) {
        finished = true;
        break;
      }
      let offset = 0;
      while (offset < value.byteLength) {
        const n = Math.min(partBytes - filled, value.byteLength - offset);
        part.set(value.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === partBytes) {
          yield part;
          filled = 0;
        }
      }
    }
    if (filled > 0) yield part.subarray(0, filled);
  } finally {
    // If the consumer stopped early (a failed part upload), stop the source too.
    if (!finished) await reader.cancel();
    reader.releaseLock();
  }
}
