/**
 * A SHA-256 per block of a fill's bytes, in order, kept after the window has let the blocks go.
 * Bytes a requester gets from anywhere but the fill itself (a ranged upstream GET, for a late
 * joiner) are compared block by block against it before they are passed on, so every byte a
 * requester receives is the byte the fill verified at that offset. 32 bytes per block: 128 KiB
 * per GiB of object at 256 KiB blocks.
 */

const DIGEST = 32;

export class BlockLedger {
  private digests = new Uint8Array(DIGEST * 64);
  /** Blocks whose digest is recorded, counted from block 0. */
  private recorded = 0;
  /** Digests are computed concurrently but recorded in block order. */
  private chain: Promise<void> = Promise.resolve();
  private waiting: (() => void)[] = [];
  private finalIndex: number | null = null;

  /**
   * Records block `index` (the next one in order). The bytes are copied by the digest call before
   * it returns, so the caller may reuse its buffer at once.
   */
  add(index: number, bytes: Uint8Array, last = false): void {
    const digest = crypto.subtle.digest("SHA-256", bytes);
    if (last) this.finalIndex = index;
    this.chain = this.chain.then(async () => {
      const value = new Uint8Array(await digest);
      if (this.digests.length < (index + 1) * DIGEST) {
        const grown = new Uint8Array(Math.max(this.digests.length * 2, (index + 1) * DIGEST));
        grown.set(this.digests);
        this.digests = grown;
      }
      this.digests.set(value, index * DIGEST);
      this.recorded = index + 1;
      const waiting = this.waiting;
      this.waiting = [];
      for (const w of waiting) w();
    });
  }

  /** The number of the object's last block, once the fill has ended. */
  get lastIndex(): number | null {
    return this.finalIndex;
  }

  /**
   * Whether `bytes` are exactly block `index` of the fill, waiting until the fill has got that far.
   * Resolves false at once if `gaveUp()` says waiting is pointless (the fill failed).
   */
  async matches(index: number, bytes: Uint8Array, gaveUp: () => boolean): Promise<boolean> {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    while (this.recorded <= index) {
      if (gaveUp()) return false;
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        setTimeout(resolve, 250); // re-check gaveUp now and then
      });
    }
    const expected = this.digests.subarray(index * DIGEST, (index + 1) * DIGEST);
    return digest.every((b, i) => b === expected[i]);
  }
}
