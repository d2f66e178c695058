/**
 * A candidate for the verifier's gunzip, measured by `npm run bench -- memory` beside the one
 * pkgedge uses (workerd's DecompressionStream, fed from JS): gunzip in the isolate, into one
 * reused buffer. The compressed bytes are read where the caller has them and the decompressed
 * bytes are written into one buffer, reused once the consumer has taken them: nothing is
 * allocated per chunk. The inflater is pako's port of zlib (its low-level calls), which checks
 * the gzip header, the CRC-32 and the length in the trailer, as gzip does. (Measured: it halves
 * the verifier's own growth at 300 MB, but costs over twice the CPU on compressible archives and
 * leaves a whole fill's growth where it was; docs/benchmarks.md.)
 */

import { ZStream, zlibInflate, zlibInflateEnd, zlibInflateInit2, Z_BUF_ERROR, Z_OK, Z_NO_FLUSH, Z_STREAM_END } from "pako";

/** zlib's windowBits for a gzip wrapper only (16 + the 32 KiB window). */
const GZIP_ONLY = 16 + 15;

export class Gunzip {
  private readonly stream = new ZStream();
  private readonly output: Uint8Array<ArrayBuffer>;
  private ended = false;

  constructor(outputBytes = 64 * 1024) {
    this.output = new Uint8Array(outputBytes);
    const status = zlibInflateInit2(this.stream, GZIP_ONLY);
    if (status !== Z_OK) throw new Error(`the inflater did not start (${status})`);
  }

  /**
   * Decompresses `chunk`, handing each piece of output to `take`: a view into the reused buffer,
   * valid until what `take` returns has settled. Once this resolves, `chunk` is no longer read.
   */
  async write(chunk: Uint8Array, take: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
    if (chunk.byteLength === 0) return;
    if (this.ended) throw trailing();
    const s = this.stream;
    s.input = chunk;
    s.next_in = 0;
    s.avail_in = chunk.byteLength;
    for (;;) {
      s.output = this.output;
      s.next_out = 0;
      s.avail_out = this.output.byteLength;
      const status = zlibInflate(s, Z_NO_FLUSH);
      if (status === Z_STREAM_END) this.ended = true;
      else if (status !== Z_OK && status !== Z_BUF_ERROR) throw new Error(s.msg || `inflate failed (${status})`);
      const produced = s.next_out;
      if (produced > 0) {
        const pending = take(this.output.subarray(0, produced));
        if (pending) await pending;
      }
      if (this.ended) {
        // As workerd's gunzip refuses it (worker/verify/verify.ts).
        if (s.avail_in > 0) throw trailing();
        break;
      }
      // A full output buffer may leave output behind with no input left: go round until it is not full.
      if (s.avail_out > 0 && s.avail_in === 0) break;
      if (produced === 0 && status === Z_BUF_ERROR) break;
    }
    s.input = EMPTY; // the caller's buffer is its own again
  }

  /** No more input: throws unless the gzip stream (its trailer included) has ended. */
  finish(): void {
    this.release();
    if (!this.ended) throw new Error("the gzip stream ended early (unexpected end of data)");
  }

  /** Frees the inflater's state. */
  release(): void {
    if (this.stream.state) zlibInflateEnd(this.stream);
  }
}

const EMPTY = new Uint8Array(0);

function trailing(): Error {
  return new Error("data after the end of the gzip stream (a second gzip member, or junk); multi-member gzip is not supported");
}
