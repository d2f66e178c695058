/**
 * The bytes of a running fill that requesters can still read: a bounded run of fixed-size blocks,
 * appended at the end and dropped whole from the front. Pure bookkeeping: no streams, no timers,
 * no waiting; whoever feeds it decides when the front may move (see PacedWindow).
 *
 * Blocks start at `origin` and every `blockBytes` after it, so two windows over the same object
 * with block-aligned origins hold the same bytes in the same blocks (see BlockLedger).
 */

export interface CompletedBlock {
  /** Block number counted from offset 0 of the object (origin must be block-aligned). */
  index: number;
  /** A view of the block, valid until the next append. */
  bytes: Uint8Array;
}

export class Window {
  private blocks: Uint8Array[] = [];
  private readonly spare: Uint8Array[] = [];
  private first: number;
  private last: number;

  constructor(
    readonly blockBytes: number,
    /** How many bytes behind the end are kept; at most one block more is held. */
    readonly capacityBytes: number,
    origin = 0,
  ) {
    this.first = origin;
    this.last = origin;
  }

  /** Offset of the first byte still held. */
  get start(): number {
    return this.first;
  }

  /** Offset just past the last byte appended. */
  get end(): number {
    return this.last;
  }

  /** Where the window would start once `incoming` more bytes were appended. */
  startAfter(incoming: number): number {
    let start = this.first;
    while (this.last + incoming - start - this.blockBytes >= this.capacityBytes) start += this.blockBytes;
    return start;
  }

  /** Appends bytes (copied), returning the blocks this append filled, for whoever digests them. */
  append(chunk: Uint8Array): CompletedBlock[] {
    const completed: CompletedBlock[] = [];
    let offset = 0;
    while (offset < chunk.byteLength) {
      const used = (this.last - this.first) % this.blockBytes;
      if (used === 0 && (this.blocks.length === 0 || this.last > this.first))
        this.blocks.push(this.spare.pop() ?? new Uint8Array(this.blockBytes));
      const block = this.blocks[this.blocks.length - 1]!;
      const n = Math.min(this.blockBytes - used, chunk.byteLength - offset);
      block.set(chunk.subarray(offset, offset + n), used);
      offset += n;
      this.last += n;
      if (used + n === this.blockBytes) completed.push({ index: Math.floor((this.last - 1) / this.blockBytes), bytes: block });
    }
    const start = this.startAfter(0);
    while (this.first < start) {
      // Reused for later bytes: a fill allocates its window once, whatever the object's size.
      this.spare.push(this.blocks.shift()!);
      this.first += this.blockBytes;
    }
    return completed;
  }

  /** The bytes of the last, partly filled block (a view), and its number; null if the end is block-aligned. */
  tail(): CompletedBlock | null {
    const used = (this.last - this.first) % this.blockBytes;
    if (used === 0 || this.blocks.length === 0) return null;
    return { index: Math.floor(this.last / this.blockBytes), bytes: this.blocks[this.blocks.length - 1]!.subarray(0, used) };
  }

  /**
   * A view of up to `max` bytes from `offset`, not past `until`, valid until the next append (copy
   * it before waiting); null if they are not held (yet, or any more).
   */
  read(offset: number, max: number, until = Infinity): Uint8Array | null {
    if (offset < this.first || offset >= this.last || offset >= until) return null;
    const inWindow = offset - this.first;
    const block = this.blocks[Math.floor(inWindow / this.blockBytes)]!;
    const at = inWindow % this.blockBytes;
    const n = Math.min(max, this.blockBytes - at, this.last - offset, until - offset);
    return block.subarray(at, at + n);
  }

  /** Lets every block go; later reads miss. */
  release(): void {
    this.blocks = [];
    this.spare.length = 0;
    this.first = this.last;
  }
}
