/**
 * Filling a miss from upstream (protocol.md §6.3): GET from the first upstream that has the resource
 * (locate.ts found which) or take the body one GET brought, watch the body (idle, throughput
 * floor, deadline), pass it through the commit gate (and a tap, through which the resource's
 * coordinator shares the bytes with its requesters), and write it to the bucket. The object
 * appears only if every check passed; otherwise the write is abandoned, and the tap's readers see
 * a broken stream rather than a clean end.
 */

import type { ObjectStore } from "../store/store";
import type { Config } from "../config";
import { getFromUpstreams, type UpstreamBody } from "../upstream/upstream";
import { BodyOverrun, watchBody } from "../streams/watchdog";
import { BodyRejected, commitGate, lengthCheck, type Blame, type BodyCheck, type CommitGate, type Verdict } from "./gate";
import { ChunkReader, Outlet } from "../streams/bytes";
import type { FillTarget } from "./target";
import type { Location } from "./locate";
import type { RecentLookups } from "./recent";
import { continuation, type Continuation } from "./continuation";
import { passOver } from "./pass-over";
import { log } from "../log";

export interface FillDeps {
  config: Config;
  store: ObjectStore;
  recent: RecentLookups;
  /** Keeps background work (the bucket write) alive after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

export type FillOutcome =
  | { committed: true; upstream: string; bytes: number }
  /** `blame` says whether the upstream's bytes or pace failed, the bucket write failed, or the fill was let go. */
  | { committed: false; upstream: string; reason: string; blame: Blame };

export type FillStart =
  | { kind: "upstream-failed"; errors: string[] }
  | {
      kind: "streaming";
      upstream: string;
      length: number | undefined;
      headers: UpstreamBody["headers"];
      /** Settles when the bucket write has been committed or abandoned. */
      outcome: Promise<FillOutcome>;
    };

/** How long an upstream that served bad bytes (or broke off, where another has the key) is passed over for that key. */
export const QUARANTINE_SECONDS = 600;

/** What a fill's tap is told when the body starts. */
export interface TapStart {
  upstream: string;
  length: number | undefined;
  /** What the upstream said about the body (a binary-mirror file's Content-Type, ETag, Last-Modified). */
  headers: UpstreamBody["headers"];
  /** Lets the fill go on purpose (nobody wants it any more): nothing is stored, nobody is blamed. */
  abandon(reason: string): void;
  /** The upstream the bytes come from now (a continued fill moves to another): where a catch-up asks. */
  source(): string;
}

/** Sees every byte of a fill that passed the gate's checks so far (a shared fill's window). */
export interface FillTap {
  /** The next bytes, a view valid only until the promise settles; waiting here paces the fill. */
  feed(chunk: Uint8Array): Promise<void>;
  /** The body ended and every check passed. */
  end(): void;
}

export interface FillOptions {
  tap?: (start: TapStart) => FillTap;
}

/** The bucket write failed: the fill stops, and the upstream is not to blame. */
class StoreFailed extends Error {}

/**
 * Upstream body → commit gate (checks, then on to the bucket's outlet) → tap, one chunk at a time
 * and in one reused buffer: the next chunk is read only once every stage has taken this one, so
 * the fill holds a few chunks whatever the object's size, and runs at the pace of its slowest
 * stage (the upstream, the verifier, the bucket, or a requester within its patience).
 */
async function pumpFill(body: ReadableStream<Uint8Array>, gate: CommitGate, bucket: Outlet, tap: FillTap | undefined): Promise<void> {
  const reader = new ChunkReader(body);
  try {
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
      await gate.pass(chunk);
      if (tap) await tap.feed(chunk);
    }
    await gate.end();
    tap?.end();
    await bucket.close().catch((err) => Promise.reject(new StoreFailed(message(err))));
  } catch (err) {
    // Whatever failed first decides the verdict (the gate keeps the first); everything else stops.
    gate.abandon(err instanceof StoreFailed ? new BodyRejected(`the bucket write failed: ${err.message}`, {}, "store") : err);
    bucket.abort(err);
    void reader.cancel(err);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * How long a body may take in all: long enough for the whole object at the throughput floor,
 * plus a minute. Only a backstop: the floor itself trips first on a dribble.
 */
function deadlineMs(config: Config, length: number | undefined): number | undefined {
  if (config.upstreamMinBytesPerSecond === 0) return undefined;
  const size = length ?? 5 * 1024 ** 3; // unknown length: as for the largest single upload
  return config.upstreamMinRateWindowMs + 60_000 + Math.ceil((size / config.upstreamMinBytesPerSecond) * 1000);
}

/**
 * Why an object of this size is refused, if it is: verifying it would take longer than the Workers
 * CPU limit allows, and a fill ended by the limit would only be started again.
 */
export function oversize(config: Config, length: number | undefined): string | null {
  if (length === undefined || length <= config.fillMaxBytes) return null;
  return `${length} bytes is over FILL_MAX_BYTES (${config.fillMaxBytes}): verifying it would take longer than the Workers CPU limit`;
}

/** Fills from the first of the upstreams that have the resource (`located`) whose GET answers with a body. */
export async function fillFromUpstream(
  deps: FillDeps,
  target: FillTarget,
  options: FillOptions,
  located: Extract<Location, { kind: "found" }>,
): Promise<FillStart> {
  const { config, recent } = deps;
  let got = await getFromUpstreams(
    located.hits.map((h) => h.upstream),
    target.path,
    config.upstreamTimeoutMs,
  );
  if (!got.ok) {
    // The winner failed; fall back to the upstreams whose HEAD answered later.
    const tried = new Set(located.hits.map((h) => h.upstream));
    const rest = (await located.more).map((h) => h.upstream).filter((u) => !tried.has(u));
    if (rest.length > 0) {
      const retry = await getFromUpstreams(rest, target.path, config.upstreamTimeoutMs);
      got = retry.ok ? retry : { ok: false, errors: [...got.errors, ...retry.errors] };
    }
  }
  if (!got.ok) {
    // HEAD said yes but GET failed everywhere (protocol.md C46): an outage, not an absence. Remembered
    // briefly, so the first request after the upstreams recover fills.
    recent.remember(target.key, { kind: "unavailable", errors: got.errors }, config.failureTtlSeconds);
    return { kind: "upstream-failed", errors: got.errors };
  }
  const hits = located.hits.map((h) => h.upstream);
  const candidates = located.more.then(
    (more) => more.map((h) => h.upstream),
    () => hits,
  );
  return fillFromBody(deps, target, got.response, options, candidates);
}

/**
 * Fills from a body an upstream is sending: checks, tap and bucket write as above. Nothing is
 * fetched here; a body that is refused at once (too large, not the length its publisher lists) is
 * cancelled and reported as an upstream failure.
 */
export function fillFromBody(
  deps: FillDeps,
  target: FillTarget,
  response: UpstreamBody,
  options: FillOptions,
  /** Upstreams known to have it, best first: where a broken body is continued (continuation.ts). */
  candidates?: Promise<readonly string[]>,
): FillStart {
  const { config, store, recent } = deps;
  const { upstream, length } = response;
  const misfit =
    target.expectedLength !== undefined && length !== undefined && length !== target.expectedLength
      ? `${upstream} announced ${length} bytes, but versions.json lists ${target.expectedLength}`
      : target.maxLength !== undefined && length !== undefined && length > target.maxLength.bytes
        ? `${upstream} announced ${length} bytes, more than ${target.maxLength.bytes} (${target.maxLength.why})`
        : null;
  const refused = oversize(config, length) ?? misfit;
  if (refused) {
    void response.body.cancel();
    if (misfit && !oversize(config, length)) recent.quarantine(target.key, upstream, QUARANTINE_SECONDS);
    return { kind: "upstream-failed", errors: [refused] };
  }

  // Every fill is checked: nothing reaches the bucket whose length (or tree hash, or published digest) is wrong.
  const bucket = new Outlet(length);
  const toBucket = { write: (bytes: Uint8Array) => bucket.write(bytes).catch((err) => Promise.reject(new StoreFailed(message(err)))) };
  const checks: BodyCheck[] = [lengthCheck(length, config.fillMaxBytes)];
  const check = target.check(config);
  if (check) checks.push(check);
  const gate = commitGate(checks, toBucket);
  const continued = continuation(deps, target, response, candidates);
  const watched = watchBody(
    response.body,
    {
      what: `upstream ${upstream}`,
      idleMs: config.upstreamIdleTimeoutMs,
      minBytesPerSecond: config.upstreamMinBytesPerSecond,
      rateWindowMs: config.upstreamMinRateWindowMs,
      deadlineMs: deadlineMs(config, length),
      // With a continuation, the watched body checks the length itself: a short end is continued.
      length: continued ? length : undefined,
      resume: continued?.resume,
    },
    // A body that broke off is not a body whose bytes were wrong (pass-over.ts).
    (err) => gate.abandon(err instanceof BodyRejected ? err : new BodyRejected(err.message, {}, blameOf(err, continued))),
  );
  const abandon = (reason: string) => watched.abort(new BodyRejected(reason, {}, "abandoned"));
  const source = () => continued?.source() ?? upstream;
  const tap = options.tap?.({ upstream, length, headers: response.headers, abandon, source });
  const write = store.putStream(target.key, bucket.readable, length, target.putOptions(response));
  // A write that fails before taking every byte must not leave the pump waiting on the outlet.
  write.catch((err) => bucket.abort(err));
  void pumpFill(watched.body, gate, bucket, tap);
  const suppliers = () => continued?.suppliers() ?? [upstream];
  const outcome = settleFill(target.key, upstream, write, gate.verdict, suppliers).then(async (result) => {
    if (!result.committed) {
      recent.forget(target.key);
      // Blamed for a break: the upstream whose transfer broke last, not one that only refused a ranged GET.
      const brokeLast = continued?.source() ?? upstream;
      // Another source means another upstream that has the key (configured is not enough), not passed over.
      const holders = (await (candidates ?? Promise.resolve(target.upstreams))).filter(
        (u) => u !== brokeLast && !recent.isQuarantined(target.key, u),
      );
      const verdict = passOver({ blame: result.blame, suppliers: suppliers(), brokeLast, othersHaveIt: holders.length > 0 });
      for (const u of verdict.quarantine) recent.quarantine(target.key, u, QUARANTINE_SECONDS);
      if (verdict.wholeOnly) recent.fillWhole(target.key, QUARANTINE_SECONDS);
    }
    return result;
  });
  deps.waitUntil(outcome);
  return { kind: "streaming", upstream, length, headers: response.headers, outcome };
}

/** What a body that failed in the watchdog is put down to (pass-over.ts). */
function blameOf(err: Error, continued: Continuation | undefined): Blame {
  if (err instanceof BodyOverrun) return "upstream";
  return continued?.changed() ? "changed" : "broke";
}

/** Combines the bucket write and the gate's verdict into one logged outcome. */
async function settleFill(
  key: string,
  upstream: string,
  write: Promise<boolean>,
  verdict: Promise<Verdict>,
  suppliers: () => string[],
): Promise<FillOutcome> {
  let writeError: string | undefined;
  try {
    await write;
  } catch (err) {
    writeError = message(err);
  }
  // The write only finishes after the gate released the last chunk, so the verdict is in by now,
  // unless the write failed first; then the verdict may never come and the write error stands.
  const v = writeError === undefined ? await verdict : await Promise.race([verdict, Promise.resolve(undefined)]);
  // A fill continued from other upstreams names them all.
  const continuedFrom = suppliers().length > 1 ? { suppliers: suppliers() } : {};
  if (v?.ok && writeError === undefined) {
    // What was stored, not how it was checked (the hashes a rejection logs are for diagnosing it).
    const bytes = Number(v.details?.bytes ?? 0);
    log("info", "fill_committed", { key, upstream, ...continuedFrom, bytes });
    return { committed: true, upstream, bytes };
  }
  const rejected = v !== undefined && !v.ok ? v : undefined;
  const reason = rejected ? rejected.reason : (writeError ?? "unknown");
  const blame = rejected ? rejected.blame : "store";
  log(blame === "store" ? "error" : blame === "abandoned" ? "info" : "warn", blame === "abandoned" ? "fill_abandoned" : "fill_rejected", {
    key,
    upstream,
    ...continuedFrom,
    reason,
    ...rejected?.details,
    writeError,
  });
  return { committed: false, upstream, reason, blame };
}
