/**
 * Watches a body as it is read and fails it when its source misbehaves: silent for too long,
 * slower than a floor over a sliding window, or past an overall deadline. A fill must not be held
 * by a stalled or dribbling upstream (an upstream sending 20 bytes a second never trips an idle
 * timeout), nor a hit by a bucket that stops answering. Source errors are passed on as errors,
 * never as a clean end.
 *
 * Only time spent waiting for the source counts towards the idle and rate limits: when the reader
 * holds back (a slow bucket write, a slow verifier), the source is not to blame. One timer ticks
 * every `idleMs / 2`, rather than a timer per chunk: bodies arrive in 4 KiB pieces and per-piece
 * timers were a measurable share of a fill's CPU time.
 */

import { ChunkReader, Outlet } from "./bytes";

export class BodyStalled extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BodyStalled";
  }
}

export interface BodyLimits {
  /** Fail once a read has waited this long (detected between 1× and 1.5×). */
  idleMs: number;
  /** Fail when fewer bytes than this per second arrived over the last `rateWindowMs` of waiting; 0: off. */
  minBytesPerSecond?: number;
  rateWindowMs?: number;
  /** Fail once this much wall time has passed since the body started. */
  deadlineMs?: number;
  /** Names the source in error messages ("upstream", "bucket"). */
  what: string;
  /** The body's length, when known: the watched body then carries it (see Outlet). */
  length?: number;
}

export interface WatchedBody {
  /** The source's bytes, as a native stream (see Outlet): read it as a response body or with a ChunkReader. */
  body: ReadableStream<Uint8Array>;
  /** Fails the body from outside (the reason reaches `onError` and whoever reads `body`). */
  abort(reason: Error): void;
}

export function watchBody(source: ReadableStream<Uint8Array>, limits: BodyLimits, onError: (err: Error) => void = () => {}): WatchedBody {
  const reader = new ChunkReader(source);
  const outlet = new Outlet(limits.length);
  const started = Date.now();
  const tickMs = limits.idleMs / 2;
  let readingSince: number | null = null;
  let idleTicks = 0;
  let waited = 0; // ms spent waiting for the source, finished reads only
  let received = 0;
  const samples: { waited: number; received: number }[] = [{ waited: 0, received: 0 }];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed = false;

  const stop = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    stop();
    onError(err);
    outlet.abort(err);
    void reader.cancel(err);
  };

  /** Average bytes per second over the last rateWindowMs of waiting, or null until that much has passed. */
  const rate = (now: number): number | null => {
    const window = limits.rateWindowMs ?? 0;
    const total = waited + (readingSince === null ? 0 : now - readingSince);
    samples.push({ waited: total, received });
    while (samples.length > 2 && total - samples[1]!.waited >= window) samples.shift();
    const oldest = samples[0]!;
    const span = total - oldest.waited;
    return span >= window && span > 0 ? ((received - oldest.received) * 1000) / span : null;
  };

  const tick = () => {
    const now = Date.now();
    if (readingSince !== null && ++idleTicks >= 3) return fail(new BodyStalled(`${limits.what} sent nothing for ${limits.idleMs} ms`));
    const floor = limits.minBytesPerSecond ?? 0;
    if (floor > 0) {
      const r = rate(now);
      if (r !== null && r < floor) {
        return fail(
          new BodyStalled(
            `${limits.what} sent ${Math.round(r)} bytes/s over the last ${limits.rateWindowMs} ms, under the floor of ${floor}`,
          ),
        );
      }
    }
    if (limits.deadlineMs !== undefined && now - started > limits.deadlineMs) {
      return fail(new BodyStalled(`${limits.what} body took longer than its deadline of ${limits.deadlineMs} ms`));
    }
    timer = setTimeout(tick, tickMs);
  };

  /** Source → outlet, one chunk at a time: the source is read again once the reader took the last chunk. */
  const pump = async () => {
    for (;;) {
      readingSince = Date.now();
      idleTicks = 0;
      let chunk: Uint8Array | null;
      try {
        chunk = await reader.read();
      } catch (err) {
        readingSince = null;
        return fail(new BodyStalled(`${limits.what} body failed: ${err instanceof Error ? err.message : String(err)}`));
      }
      if (failed) return;
      waited += Date.now() - readingSince;
      readingSince = null;
      if (chunk === null) {
        // A source that ends short of its length is broken, never a clean end (a bucket that
        // cut an object off, a connection closed early).
        if (limits.length !== undefined && received !== limits.length) {
          return fail(new BodyStalled(`${limits.what} body ended after ${received} of ${limits.length} bytes`));
        }
        stop();
        return outlet.close().catch(() => {});
      }
      received += chunk.byteLength;
      try {
        await outlet.write(chunk);
      } catch (err) {
        // The reader went away (or the body was failed meanwhile): stop reading the source.
        if (failed) return;
        failed = true;
        stop();
        return reader.cancel(err);
      }
    }
  };

  timer = setTimeout(tick, tickMs);
  void pump();
  return { body: outlet.readable, abort: fail };
}
