import { Batch, ChunkReader } from "../streams/bytes";

/**
 * Cuts a byte stream into parts of exactly `partBytes` (the last one shorter), holding at most
 * one part in memory. Multipart uploads need equal-sized parts of at least 5 MiB. The same buffer
 * is reused for every part: the consumer must be done with a part (its upload resolved) before it
 * asks for the next.
 */

export async function* partsOf(body: ReadableStream<Uint8Array>, partBytes: number): AsyncGenerator<Uint8Array> {
  const reader = new ChunkReader(body);
  const part = new Batch(partBytes);
  let finished = false;
  try {
    for (;;) {
      const value = await reader.read();
      if (value === null) {
        finished = true;
        break;
      }
      for (let offset = 0; offset < value.byteLength; ) {
        offset = part.take(value, offset);
        if (part.full) yield part.drain();
      }
    }
    if (!part.empty) yield part.drain();
  } finally {
    // If the consumer stopped early (a failed part upload), stop the source too.
    if (!finished) await reader.cancel();
    reader.releaseLock();
  }
}
