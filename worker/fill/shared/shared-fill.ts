/**
 * One fill, many requesters, constant memory. The fill runs at the pace of the upstream, the
 * verifier and the bucket, never of a client: its gated bytes pass through a bounded window
 * (PacedWindow) that requesters stream from, and a requester that cannot keep up is let go to a
 * fallback. Every fallback is checked against the fill: the bucket once the object is committed,
 * or a shared catch-up feed whose blocks are compared with the fill's (CatchUp, BlockLedger).
 *
 * Verified or broken: no requester gets the last byte it asked for before the fill's verdict is
 * in and good, so a response can only end cleanly with verified bytes.
 */

import { CHANGED, type ObjectStore } from "../../store/store";
import type { FillOutcome, FillTap, TapStart } from "../fill";
import { ChunkReader, Outlet } from "../../streams/bytes";
import { PacedWindow, type WindowReader } from "./paced-window";
import { Window } from "./window";
import { BlockLedger } from "./block-ledger";
import { CatchUps } from "./catch-up";
import { Attendance, type AttendanceRule } from "./attendance";
import { log } from "../../log";

/** The window is kept in blocks of a quarter of its size (at most 256 KiB): also the unit of the ledger. */
const MAX_BLOCK = 256 * 1024;
/** How much a requester takes from a window per read. */
const READ = 64 * 1024;
/** How long a feed waits for a requester in its way before letting it go to its fallback. */
export const PATIENCE_MS = 2000;

export interface SharedFillOptions extends AttendanceRule {
  key: string;
  /** Asked of the upstream (after its base URL) by catch-up feeds. */
  path: string;
  windowBytes: number;
  upstreamTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
}

type Source =
  | { kind: "window"; paced: PacedWindow; reader: WindowReader; leave(): void; broken(): string | null }
  | { kind: "bucket"; bytes: Promise<ChunkReader> };

export class SharedFill {
  readonly upstream: string;
  readonly length: number | undefined;
  readonly headers: TapStart["headers"];
  private readonly main: PacedWindow;
  private readonly ledger = new BlockLedger();
  private readonly block: number;
  /** The gate let the end through: every check passed. */
  private ended = false;
  private result: FillOutcome | null = null;
  /**
   * The ETag of the object this fill committed, read as soon as it was committed. Readers moved
   * onto the bucket read that version only: a binary-mirror file revalidated while a slow reader
   * is still on the old one is a newer object under the same key, whose bytes must not be spliced in.
   */
  private committedEtag: Promise<string | null> = Promise.resolve(null);
  private wakers: (() => void)[] = [];
  /** None when the length is unknown: no end to check a catch-up against, so fallbacks wait for the bucket. */
  private readonly catchUps: CatchUps | null;
  private readonly attendance: Attendance;
  private abandoned = false;
  private readonly abandon: (reason: string) => void;

  constructor(
    start: TapStart,
    readonly options: SharedFillOptions,
    private readonly store: ObjectStore,
    /** Settles when the bucket write has been committed or abandoned. */
    readonly outcome: Promise<FillOutcome>,
  ) {
    this.upstream = start.upstream;
    this.length = start.length;
    this.headers = start.headers;
    this.abandon = start.abandon;
    this.attendance = new Attendance(start.length, options);
    this.block = Math.min(MAX_BLOCK, Math.max(1024, Math.floor(options.windowBytes / 4)));
    this.main = new PacedWindow(new Window(this.block, options.windowBytes), PATIENCE_MS);
    this.catchUps =
      start.length === undefined
        ? null
        : new CatchUps(
            {
              key: options.key,
              path: options.path,
              upstream: start.source,
              length: start.length,
              blockBytes: this.block,
              windowBytes: options.windowBytes,
              patienceMs: PATIENCE_MS,
              timeoutMs: options.upstreamTimeoutMs,
              idleMs: options.upstreamIdleTimeoutMs,
            },
            this.ledger,
            () => this.failed,
            () => this.notify(),
          );
    void outcome.then((r) => {
      // A bucket that cannot say leaves the reads unconditional, as they were before there was a check.
      if (r.committed)
        this.committedEtag = store.head(options.key).then(
          (info) => info?.etag ?? null,
          () => null,
        );
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
  readonly tap: FillTap = {
    feed: async (chunk) => {
      this.letGoIfUnattended();
      for (const done of await this.main.feed(chunk)) this.ledger.add(done.index, done.bytes);
    },
    end: () => {
      const tail = this.main.window.tail();
      if (tail) this.ledger.add(tail.index, tail.bytes);
      this.ended = true;
      this.notify();
    },
  };

  /**
   * Someone wants this fill (a requester, or a caller waiting for the commit). Returns the release.
   * When the last one leaves, a large fill is let go after a grace period; a small one finishes,
   * so the next request is a hit.
   */
  attend(): () => void {
    const release = this.attendance.attend();
    return () => {
      release();
      this.letGoIfUnattended();
    };
  }

  /** Checked as bytes flow through the tap, and as requesters leave (see Attendance). */
  private letGoIfUnattended(): void {
    if (this.result || this.ended || this.abandoned || !this.attendance.forsaken) return;
    this.abandoned = true;
    log("info", "fill_unattended", { key: this.options.key, length: this.length ?? null, limit: this.options.unattendedMaxBytes });
    this.abandon(
      `nobody reads this fill any more, and ${this.length === undefined ? "its length is unknown" : `its ${this.length} bytes are over UNATTENDED_FILL_MAX_BYTES`}`,
    );
  }

  /**
   * A stream of bytes [start, end] (inclusive; end defaults to the last byte) for one requester.
   * It errors, rather than ending, if the fill fails before the requester is done. A native stream
   * (see Outlet): bytes are copied once from the window into the requester's own buffer, and the
   * next are taken only after the client's side took these.
   */
  subscribe(start: number, end?: number): ReadableStream<Uint8Array> {
    const release = this.attend();
    const last = () => end ?? (this.length !== undefined ? this.length - 1 : undefined);
    const lastByte = last();
    const outlet = new Outlet(lastByte === undefined ? undefined : Math.max(0, lastByte - start + 1));
    const buffer = new Uint8Array(READ);
    let offset = start;
    let source: Source | null = null;
    const finish = () => {
      if (source?.kind === "window") source.leave();
      if (source?.kind === "bucket") void source.bytes.then((r) => r.cancel()).catch(() => {});
      source = null;
      release();
    };

    /** The requester's next bytes (valid until the next call), or null once it has all it asked for. */
    const next = async (): Promise<Uint8Array | null> => {
      for (;;) {
        if (this.failed) throw this.failure();
        const stop = last();
        const until = stop === undefined ? Infinity : stop + 1;
        if (offset >= until || (stop === undefined && this.ended && offset >= this.main.window.end)) return null;
        if (this.ended && this.length !== undefined && offset >= this.length) {
          // Asked for bytes past the end the upstream actually sent (its HEAD and GET disagreed).
          throw new Error(`bytes from ${offset} were asked for, but the object has ${this.length}`);
        }
        source ??= await this.sourceFor(offset, until);
        if (!source) continue; // the fill's state changed while waiting: look again
        if (source.kind === "bucket") {
          const bytes = await (await source.bytes).read();
          if (bytes === null) throw new Error(`the bucket's copy of ${this.options.key} ended at byte ${offset}`);
          return bytes;
        }
        const view = source.paced.take(source.reader, READ, until);
        if (view) {
          buffer.set(view);
          return buffer.subarray(0, view.byteLength);
        }
        if (source.reader.dropped || offset < source.paced.window.start || source.broken() !== null) {
          source.leave(); // let go: the next round picks a fallback
          source = null;
          continue;
        }
        await source.paced.changed();
      }
    };

    void (async () => {
      try {
        for (let bytes = await next(); bytes; bytes = await next()) {
          const stop = last();
          // Hold back the requester's last bytes until the verdict: a clean end means verified bytes.
          if (offset + bytes.byteLength >= (stop === undefined ? Infinity : stop + 1)) await this.verdictIn();
          if (this.failed) throw this.failure();
          offset += bytes.byteLength;
          await outlet.write(bytes); // rejects once the client has gone
        }
        finish();
        await outlet.close();
      } catch (err) {
        finish();
        outlet.abort(err);
      }
    })();
    return outlet.readable;
  }

  private failure(): Error {
    const reason = this.result && !this.result.committed ? this.result.reason : "unknown";
    return new Error(`fill of ${this.options.key} failed: ${reason}`);
  }

  /** Where a requester at `offset` reads from next; null after waiting for the fill to change. */
  private async sourceFor(offset: number, until: number): Promise<Source | null> {
    const main = this.main.join(offset);
    if (main) {
      const leave = () => {
        this.main.leave(main);
        this.releaseIfDone();
      };
      return { kind: "window", paced: this.main, reader: main, leave, broken: () => null };
    }
    if (this.committed) return { kind: "bucket", bytes: this.fromBucket(offset, until) };
    const catchUp = this.catchUps?.at(offset) ?? null;
    if (catchUp) {
      const reader = catchUp.paced.join(offset)!;
      return {
        kind: "window",
        paced: catchUp.paced,
        reader,
        leave: () => catchUp.leave(reader),
        broken: () => (catchUp.finished ? (catchUp.error ?? "") : null),
      };
    }
    await this.changed(); // the bucket, once the object is committed
    return null;
  }

  /** The committed object's bytes [offset, until): verified, so they need no further check. */
  private async fromBucket(offset: number, until: number): Promise<ChunkReader> {
    const size = this.result?.committed ? this.result.bytes : (this.length ?? 0);
    const span = { offset, length: Math.min(until, size) - offset };
    const etag = await this.committedEtag;
    const obj =
      etag === null ? await this.store.get(this.options.key, span) : await this.store.getIfUnchanged(this.options.key, etag, span);
    if (obj === CHANGED) throw new Error(`${this.options.key} was replaced in the bucket by a newer version while this one was read`);
    if (!obj) throw new Error(`${this.options.key} vanished from the bucket`);
    return new ChunkReader(obj.body);
  }

  /** Resolves once the gate let the end through (every check passed) or the fill failed. */
  private async verdictIn(): Promise<void> {
    while (!this.ended && !this.result) await this.changed();
  }

  /** Once the object is in the bucket and nobody reads from the window, the window is let go. */
  private releaseIfDone(): void {
    if (this.committed && this.main.readerCount === 0) this.main.window.release();
  }

  private notify(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
    this.main.notify();
    this.catchUps?.notify();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.wakers.push(r));
  }
}
