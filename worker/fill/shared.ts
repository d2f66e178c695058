/**
 * One fill, many requesters, constant memory. The fill runs at the pace of the upstream, the
 * verifier and the bucket, never of a client; the bytes it has passed through the commit gate
 * stay in a bounded window for requesters to stream from. A requester that falls behind the
 * window, joins late, or asks for a range that starts before it reads from the bucket once the
 * object is committed, and until then from a ranged GET on the same upstream; either way it
 * never waits for the whole object, and never sees a clean end of an object that failed.
 */

import type { ObjectStore } from "../store/store";
import { UPSTREAM_HEADERS } from "../upstream/upstream";
import type { FillOutcome } from "./fill";

/** The window is kept in blocks of a quarter of its size (at most 256 KiB), dropped whole from the front. */
const MAX_BLOCK = 256 * 1024;
/** How much a requester takes from the window per read. */
const READ = 64 * 1024;

export class SharedFill {
  /** Blocks of the window, oldest first; `windowStart` is the object offset of blocks[0]. */
  private blocks: Uint8Array[] = [];
  private windowStart = 0;
  /** Bytes that have passed the gate so far. */
  private received = 0;
  /** The gate let the end through: every byte is verified. */
  private ended = false;
  private result: FillOutcome | null = null;
  private wake: (() => void)[] = [];
  private readonly block: number;

  constructor(
    readonly key: string,
    readonly upstream: string,
    readonly length: number | undefined,
    private readonly windowBytes: number,
    private readonly store: ObjectStore,
    /** Settles when the bucket write has been committed or abandoned. */
    readonly outcome: Promise<FillOutcome>,
  ) {
    this.block = Math.min(MAX_BLOCK, Math.max(1024, Math.floor(windowBytes / 4)));
    void outcome.then((r) => {
      this.result = r;
      this.notify();
    });
  }

  get failed(): boolean {
    return this.result !== null && !this.result.committed;
  }

  get committed(): boolean {
    return this.result?.committed === true;
  }

  /** Receives the fill's gated bytes: install as the fill's tap. */
  readonly tap = new TransformStream<Uint8Array, Uint8Array>({
    transform: (chunk, controller) => {
      this.append(chunk);
      controller.enqueue(chunk);
    },
    flush: () => {
      this.ended = true;
      this.notify();
    },
  });

  private append(chunk: Uint8Array): void {
    const BLOCK = this.block;
    let offset = 0;
    while (offset < chunk.byteLength) {
      const used = (this.received - this.windowStart) % BLOCK;
      if (used === 0 && (this.blocks.length === 0 || this.received > this.windowStart)) this.blocks.push(new Uint8Array(BLOCK));
      const block = this.blocks[this.blocks.length - 1]!;
      const n = Math.min(BLOCK - used, chunk.byteLength - offset);
      block.set(chunk.subarray(offset, offset + n), used);
      offset += n;
      this.received += n;
    }
    // Keep the window bounded: drop whole blocks from the front.
    while (this.blocks.length > 1 && this.received - this.windowStart - BLOCK >= this.windowBytes) {
      this.blocks.shift();
      this.windowStart += BLOCK;
    }
    this.notify();
  }

  private notify(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const w of waiting) w();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.wake.push(r));
  }

  /** Bytes [offset, min(offset + READ, until)) from the window, or null if they are not there (yet). */
  private fromWindow(offset: number, until: number): Uint8Array | null {
    if (offset < this.windowStart || offset >= this.received) return null;
    const inWindow = offset - this.windowStart;
    const block = this.blocks[Math.floor(inWindow / this.block)]!;
    const at = inWindow % this.block;
    const n = Math.min(READ, this.block - at, this.received - offset, until - offset);
    return block.slice(at, at + n);
  }

  /**
   * A stream of bytes [start, end] (inclusive; end defaults to the last byte) for one requester.
   * It errors, rather than ending, if the fill fails verification before the requester is done.
   */
  subscribe(start: number, end?: number): ReadableStream<Uint8Array> {
    let offset = start;
    const last = () => end ?? (this.length !== undefined ? this.length - 1 : undefined);
    let fallback: AsyncIterator<Uint8Array> | null = null;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (this.failed) return controller.error(new Error(`fill of ${this.key} failed: ${this.result && !this.result.committed ? this.result.reason : ""}`));
            const stop = last();
            const until = stop === undefined ? Infinity : stop + 1;
            if (offset >= until) return controller.close();
            if (stop === undefined && this.ended && offset >= this.received) return controller.close();
            if (fallback || offset < this.windowStart) {
              fallback ??= this.fallbackFrom(offset, stop);
              const next = await fallback.next();
              if (next.done) {
                // The fallback delivered everything asked for; the object's verdict decides how it ends.
                while (!this.result && !this.ended) await this.changed();
                if (this.failed) continue;
                return controller.close();
              }
              offset += next.value.byteLength;
              return controller.enqueue(next.value);
            }
            const bytes = this.fromWindow(offset, until);
            if (bytes) {
              offset += bytes.byteLength;
              return controller.enqueue(bytes);
            }
            await this.changed();
          }
        },
        cancel: async () => {
          await fallback?.return?.();
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Bytes from `offset` on, from the bucket once committed, else from the upstream by range. */
  private async *fallbackFrom(offset: number, last: number | undefined): AsyncGenerator<Uint8Array> {
    const length = last === undefined ? undefined : last - offset + 1;
    if (this.committed) {
      const obj = await this.store.get(this.key, length === undefined ? undefined : { offset, length });
      if (!obj) throw new Error(`${this.key} vanished from the bucket`);
      yield* obj.body as unknown as AsyncIterable<Uint8Array>;
      return;
    }
    const range = `bytes=${offset}-${last ?? ""}`;
    const res = await fetch(`${this.upstream}/${this.key}`, { headers: { ...UPSTREAM_HEADERS, range } });
    if (!res.body || (res.status !== 206 && res.status !== 200)) throw new Error(`ranged GET ${range} answered ${res.status}`);
    let skip = 0;
    if (res.status === 206) {
      if (!res.headers.get("content-range")?.startsWith(`bytes ${offset}-`)) throw new Error(`ranged GET ${range} answered another range`);
    } else {
      skip = offset; // the upstream ignored Range: skip to where this requester is
    }
    let remaining = length ?? Infinity;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      let piece = chunk;
      if (skip > 0) {
        const n = Math.min(skip, piece.byteLength);
        skip -= n;
        piece = piece.subarray(n);
      }
      if (piece.byteLength > remaining) piece = piece.subarray(0, remaining);
      if (piece.byteLength === 0) continue;
      remaining -= piece.byteLength;
      yield piece;
      if (remaining === 0) return;
    }
    if (remaining !== Infinity && remaining > 0) throw new Error(`ranged GET ${range} ended early`);
  }
}
