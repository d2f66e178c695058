/**
 * Flow control over a Window: requesters read from it at their own pace, and the feeder waits for
 * one that is about to fall out of it, but only for a while. A requester that has been behind (or
 * not pulling) for longer than the patience is dropped from the waiting set for good; at its next
 * pull it sees `dropped` and goes to its fallback. So requesters about as fast as the feed share
 * one download, and one that stops reading cannot pace everyone else.
 */

import type { CompletedBlock, Window } from "./window";

export interface WindowReader {
  /** The next byte this requester wants. */
  offset: number;
  /** Set once the feed stopped waiting for it: it must read from elsewhere from now on. */
  dropped: boolean;
  /** When the feed first found it in the way, while it still is. */
  behindSince: number | null;
}

export class PacedWindow {
  private readonly readers = new Set<WindowReader>();
  private wakers: (() => void)[] = [];

  constructor(
    readonly window: Window,
    private readonly patienceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many requesters read from the window (dropped ones excluded). */
  get readerCount(): number {
    return this.readers.size;
  }

  /** A requester starting at `offset`, or null if those bytes have already left the window. */
  join(offset: number): WindowReader | null {
    if (offset < this.window.start) return null;
    const reader: WindowReader = { offset, dropped: false, behindSince: null };
    this.readers.add(reader);
    return reader;
  }

  leave(reader: WindowReader): void {
    if (this.readers.delete(reader)) this.notify();
  }

  /** Bytes for `reader` (and moves it on; a view, see Window.read), or null if it must wait for more or was dropped. */
  take(reader: WindowReader, max: number, until: number): Uint8Array | null {
    if (reader.dropped) return null;
    const bytes = this.window.read(reader.offset, max, until);
    if (bytes) {
      reader.offset += bytes.byteLength;
      this.notify();
    }
    return bytes;
  }

  /**
   * Appends `chunk` once no requester still needs the bytes it would push out, or once each that
   * does has been in the way for the patience. Returns the blocks the append filled.
   */
  async feed(chunk: Uint8Array): Promise<CompletedBlock[]> {
    for (;;) {
      const wouldStart = this.window.startAfter(chunk.byteLength);
      const now = this.now();
      let waiting = false;
      for (const r of this.readers) {
        if (r.offset >= wouldStart) {
          r.behindSince = null;
          continue;
        }
        r.behindSince ??= now;
        if (now - r.behindSince >= this.patienceMs) {
          r.dropped = true;
          this.readers.delete(r);
        } else {
          waiting = true;
        }
      }
      if (!waiting) {
        const completed = this.window.append(chunk);
        this.notify();
        return completed;
      }
      // Woken by a requester's progress or departure, or re-checked shortly; the timer is always
      // cleared (workerd caps active timers, and many requesters wake this loop often).
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 50);
        this.wakers.push(resolve);
      });
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Resolves at the next change: bytes appended, a requester moved, left, or the feed ended. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  notify(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}
