/**
 * A catch-up feed: for requesters whose start the fill's window has already let go (late joiners,
 * laggards), one ranged GET on the fill's upstream, shared by all of them through a window of its
 * own. Its bytes are never passed on as they come: each block is first compared with the digest
 * of the same block of the fill (BlockLedger), waiting for the fill to get there if need be. An
 * upstream whose ranged answer differs from its full one ends the feed; its requesters go on
 * from the bucket once the object is committed.
 */

import { getFrom } from "../../upstream/ranged";
import { watchBody } from "../../streams/watchdog";
import { ChunkReader } from "../../streams/bytes";
import type { BlockLedger } from "./block-ledger";
import { PacedWindow } from "./paced-window";
import { Window } from "./window";
import { log } from "../../log";

/** Catch-up feeds one fill may start; after that, fallbacks wait for the bucket. */
const MAX_CATCH_UPS = 3;

/** The feed stopped because nobody reads it any more: by design, not a failure. */
class NobodyReads extends Error {}

export interface CatchUpOptions {
  key: string;
  /** Asked of the upstream after its base URL. */
  path: string;
  /** The upstream the fill's bytes come from now (a continued fill moves away from one that broke). */
  upstream: () => string;
  length: number;
  blockBytes: number;
  windowBytes: number;
  patienceMs: number;
  timeoutMs: number;
  idleMs: number;
}

export class CatchUp {
  readonly paced: PacedWindow;
  /** Set once the feed stopped (done, failed, or nobody left to read it). */
  finished = false;
  error: string | null = null;
  /** The upstream the feed asked. */
  private source: string | undefined;
  private cancel: ((reason: Error) => void) | null = null;

  constructor(
    /** Block-aligned offset the feed starts at. */
    readonly origin: number,
    private readonly options: CatchUpOptions,
    private readonly ledger: BlockLedger,
    private readonly fillFailed: () => boolean,
    private readonly onChange: () => void,
  ) {
    this.paced = new PacedWindow(new Window(options.blockBytes, options.windowBytes, origin), options.patienceMs);
  }

  /** Starts the ranged GET; resolves when the feed has stopped. */
  async run(): Promise<void> {
    try {
      await this.feed();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      if (!(err instanceof NobodyReads))
        log("warn", "catch_up_failed", { key: this.options.key, upstream: this.source, origin: this.origin, reason: this.error });
    } finally {
      this.finished = true;
      this.paced.notify();
      this.onChange();
    }
  }

  /** A requester leaves; with nobody left the ranged GET is cancelled. */
  leave(reader: Parameters<PacedWindow["leave"]>[0]): void {
    this.paced.leave(reader);
    if (this.paced.readerCount === 0) this.stop("no requester reads the catch-up feed any more");
  }

  stop(reason: string): void {
    this.cancel?.(new NobodyReads(reason));
  }

  private async feed(): Promise<void> {
    const { path, length, blockBytes, timeoutMs, idleMs } = this.options;
    const upstream = this.options.upstream();
    this.source = upstream;
    const got = await getFrom(upstream, path, this.origin, timeoutMs);
    if (!got.ok) throw new Error(got.error);
    const watched = watchBody(got.body, { what: `upstream ${upstream} (ranged)`, idleMs });
    this.cancel = (reason) => watched.abort(reason);
    const reader = new ChunkReader(watched.body);
    let skip = got.skip;
    let offset = this.origin;
    const block = new Uint8Array(blockBytes);
    let filled = 0;
    const deliver = async () => {
      const index = Math.floor(offset / blockBytes);
      const bytes = block.subarray(0, filled);
      if (!(await this.ledger.matches(index, bytes, this.fillFailed))) {
        throw new Error(this.fillFailed() ? "the fill failed" : `ranged bytes of block ${index} differ from the fill's`);
      }
      await this.paced.feed(bytes);
      offset += filled;
      filled = 0;
      if (this.paced.readerCount === 0) throw new NobodyReads("no requester reads the catch-up feed any more");
    };
    try {
      while (offset + filled < length) {
        const value = await reader.read();
        if (value === null) throw new Error(`ranged GET ended at byte ${offset + filled} of ${length}`);
        let piece = value;
        if (skip > 0) {
          const n = Math.min(skip, piece.byteLength);
          skip -= n;
          piece = piece.subarray(n);
        }
        while (piece.byteLength > 0 && offset + filled < length) {
          const n = Math.min(blockBytes - filled, piece.byteLength, length - offset - filled);
          block.set(piece.subarray(0, n), filled);
          filled += n;
          piece = piece.subarray(n);
          if (filled === blockBytes || offset + filled === length) await deliver();
        }
      }
    } finally {
      void reader.cancel();
    }
  }
}

/**
 * A fill's catch-up feeds: the running one serves every requester it still can, a new one starts
 * (at the block of the requester's offset) only when none runs, and at most MAX_CATCH_UPS start.
 */
export class CatchUps {
  private running: CatchUp | null = null;
  private started = 0;

  constructor(
    private readonly options: CatchUpOptions,
    private readonly ledger: BlockLedger,
    private readonly fillFailed: () => boolean,
    private readonly onChange: () => void,
  ) {}

  /** A feed that can serve `offset`: the running one, or a new one if none runs; null when the requester must wait for the bucket. */
  at(offset: number): CatchUp | null {
    const running = this.running && !this.running.finished ? this.running : null;
    if (running) return running.paced.window.start <= offset ? running : null;
    if (this.started >= MAX_CATCH_UPS) return null;
    this.started++;
    const origin = Math.floor(offset / this.options.blockBytes) * this.options.blockBytes;
    const catchUp = new CatchUp(origin, this.options, this.ledger, this.fillFailed, this.onChange);
    this.running = catchUp;
    void catchUp.run();
    return catchUp;
  }

  notify(): void {
    this.running?.paced.notify();
  }
}
