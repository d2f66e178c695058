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
 *
 * A body with a `resume` hook is continued instead of failed when its source breaks (fails, goes
 * silent or too slow, or ends short of its length): the hook gives a new source for the rest (a
 * ranged GET), and its reader sees one unbroken body. Only the deadline, and a hook that gives up,
 * fail it.
 */

import { ChunkReader, Outlet } from "./bytes";

/** A source sent more bytes than the body's length: its bytes are wrong, not cut off. */
export class BodyOverrun extends Error {}

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
  /** A source for the rest of the body, from byte `offset`, when this one broke (`why`); null: fail. */
  resume?: (offset: number, why: BodyStalled) => Promise<Continued | null>;
}

/** The rest of a body from another source: its first `skip` bytes are dropped (a source that ignored the range). */
export interface Continued {
  body: ReadableStream<Uint8Array>;
  skip: number;
  /** Names the new source in error messages. */
  what: string;
}

export interface WatchedBody {
  /** The source's bytes, as a native stream (see Outlet): read it as a response body or with a ChunkReader. */
  body: ReadableStream<Uint8Array>;
  /** Fails the body from outside (the reason reaches `onError` and whoever reads `body`). */
  abort(reason: Error): void;
}

export function watchBody(source: ReadableStream<Uint8Array>, limits: BodyLimits, onError: (err: Error) => void = () => {}): WatchedBody {
  let reader = new ChunkReader(source);
  let what = limits.what;
  let skip = 0;
  const outlet = new Outlet(limits.length);
  const started = Date.now();
  const tickMs = limits.idleMs / 2;
  let readingSince: number | null = null;
  let idleTicks = 0;
  let waited = 0; // ms spent waiting for the source, finished reads only
  let received = 0;
  let samples: { waited: number; received: number }[] = [{ waited: 0, received: 0 }];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed = false;
  /** Set while the pump waits for the source: the timer calls it when the source went silent or too slow. */
  let interrupt: ((why: BodyStalled) => void) | null = null;
  /** The source broke while the pump was not waiting for it (the rate floor, while the reader held back). */
  let brokenMeanwhile: BodyStalled | null = null;

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
  /** The source broke: continued by the pump when there is a hook, failed otherwise. */
  const broke = (why: BodyStalled) => {
    if (!limits.resume) return fail(why);
    stop();
    if (interrupt) interrupt(why);
    else brokenMeanwhile = why;
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
    if (readingSince !== null && ++idleTicks >= 3) return broke(new BodyStalled(`${what} sent nothing for ${limits.idleMs} ms`));
    const floor = limits.minBytesPerSecond ?? 0;
    if (floor > 0) {
      const r = rate(now);
      if (r !== null && r < floor) {
        return broke(
          new BodyStalled(`${what} sent ${Math.round(r)} bytes/s over the last ${limits.rateWindowMs} ms, under the floor of ${floor}`),
        );
      }
    }
    if (limits.deadlineMs !== undefined && now - started > limits.deadlineMs) {
      return fail(new BodyStalled(`${what} body took longer than its deadline of ${limits.deadlineMs} ms`));
    }
    timer = setTimeout(tick, tickMs);
  };

  /** The next chunk of the current source; null at its end; a BodyStalled when it broke. */
  const next = async (): Promise<Uint8Array | null | BodyStalled> => {
    const meanwhile = brokenMeanwhile;
    brokenMeanwhile = null;
    if (meanwhile) return meanwhile;
    const interrupted = new Promise<BodyStalled>((resolve) => (interrupt = resolve));
    try {
      return await Promise.race([reader.read(), interrupted]);
    } catch (err) {
      return new BodyStalled(`${what} body failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      interrupt = null;
    }
  };

  /** Continues from another source after `why`; false when the body failed instead. */
  const resume = async (why: BodyStalled): Promise<boolean> => {
    stop();
    void reader.cancel(why);
    const continued = limits.resume && !failed ? await limits.resume(received, why).catch(() => null) : null;
    if (failed) {
      void continued?.body.cancel();
      return false;
    }
    if (!continued) {
      fail(why);
      return false;
    }
    reader = new ChunkReader(continued.body);
    skip = continued.skip;
    what = continued.what;
    // The new source's pace is its own.
    waited = 0;
    samples = [{ waited: 0, received }];
    timer = setTimeout(tick, tickMs);
    return true;
  };

  /** Source → outlet, one chunk at a time: the source is read again once the reader took the last chunk. */
  const pump = async () => {
    for (;;) {
      readingSince = Date.now();
      idleTicks = 0;
      let chunk = await next();
      if (failed) return;
      waited += Date.now() - readingSince;
      readingSince = null;
      // A source that ends short of its length is broken, never a clean end (a bucket that
      // cut an object off, a connection closed early).
      if (chunk === null && limits.length !== undefined && received !== limits.length) {
        chunk = new BodyStalled(`${what} body ended after ${received} of ${limits.length} bytes`);
      }
      if (chunk instanceof BodyStalled) {
        if (!limits.resume) return fail(chunk);
        if (await resume(chunk)) continue;
        return;
      }
      if (chunk === null) {
        stop();
        return outlet.close().catch(() => {});
      }
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.byteLength);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
        if (chunk.byteLength === 0) continue;
      }
      received += chunk.byteLength;
      // More bytes than the object has: this source is wrong, not broken (nothing to continue).
      if (limits.length !== undefined && received > limits.length) {
        return fail(new BodyOverrun(`${what} sent more than the object's ${limits.length} bytes`));
      }
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
