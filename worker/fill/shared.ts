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
/** How long the fill waits for a requester about to fall out of the window (see waitForLaggards). */
const LAGGARD_PATIENCE_MS = 2000;

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
  private readonly spare: Uint8Array[] = [];
  /** Where each requester streaming from the window is. */
  private readonly readers = new Set<{ offset: number }>();

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
      this.releaseIfDone();
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
    transform: async (chunk, controller) => {
      await this.waitForLaggards(chunk.byteLength);
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
      if (used === 0 && (this.blocks.length === 0 || this.received > this.windowStart)) this.blocks.push(this.spare.pop() ?? new Uint8Array(BLOCK));
      const block = this.blocks[this.blocks.length - 1]!;
      const n = Math.min(BLOCK - used, chunk.byteLength - offset);
      block.set(chunk.subarray(offset, offset + n), used);
      offset += n;
      this.received += n;
    }
    // Keep the window bounded: drop whole blocks from the front.
    while (this.blocks.length > 1 && this.received - this.windowStart - BLOCK >= this.windowBytes) {
      // Reused for the next bytes: a fill allocates its window once, whatever the object's size.
      // (Requesters get copies, never views into a block.)
      this.spare.push(this.blocks.shift()!);
      this.windowStart += BLOCK;
    }
    this.notify();
  }

  /**
   * Before the window moves past a requester still reading from it, the fill waits for it, but
   * only for LAGGARD_PATIENCE_MS: requesters about as fast as the fill keep sharing one download,
   * while a slow one is let go to its fallback instead of holding everyone back.
   */
  private async waitForLaggards(incoming: number): Promise<void> {
    const deadline = Date.now() + LAGGARD_PATIENCE_MS;
    for (;;) {
      const wouldStart = this.windowStartAfter(incoming);
      const lagging = [...this.readers].some((r) => r.offset < wouldStart);
      if (!lagging || Date.now() >= deadline) return;
      // Woken by a requester's progress, or re-checked after a moment; the timer is always cleared
      // (workerd caps active timers, and many requesters wake this loop often).
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 50);
        this.wake.push(resolve);
      });
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Where the window would start after appending `incoming` more bytes. */
  private windowStartAfter(incoming: number): number {
    const received = this.received + incoming;
    let start = this.windowStart;
    while (received - start - this.block >= this.windowBytes) start += this.block;
    return start;
  }

  /**
   * Once the object is in the bucket and nobody reads from the window, the window is let go: the
   * coordinator may stay alive a while, and anyone who comes later reads from the bucket.
   */
  private releaseIfDone(): void {
    if (!this.committed || this.readers.size > 0) return;
    this.blocks = [];
    this.spare.length = 0;
    this.windowStart = this.received;
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
    // While it reads from the window, the fill knows where this requester is (see waitForLaggards).
    const reader = { offset: start };
    this.readers.add(reader);
    const leave = () => {
      if (this.readers.delete(reader)) {
        this.releaseIfDone();
        this.notify();
      }
    };
    let offset = start;
    let fallback: AsyncIterator<Uint8Array> | null = null;
    const last = () => end ?? (this.length !== undefined ? this.length - 1 : undefined);

    const step = async (controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
      for (;;) {
        if (this.failed) {
          leave();
          return controller.error(new Error(`fill of ${this.key} failed: ${this.result && !this.result.committed ? this.result.reason : ""}`));
        }
        const stop = last();
        const until = stop === undefined ? Infinity : stop + 1;
        if (offset >= until || (stop === undefined && this.ended && offset >= this.received)) {
          leave();
          return controller.close();
        }
        if (fallback || offset < this.windowStart) {
          leave(); // no longer reading from the window: the fill need not wait for it
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
          reader.offset = offset;
          this.notify();
          return controller.enqueue(bytes);
        }
        await this.changed();
      }
    };

    return new ReadableStream<Uint8Array>(
      {
        pull: step,
        cancel: async () => {
          leave();
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
