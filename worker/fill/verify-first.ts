/**
 * Verify before the first byte, where the client can wait (design.md, "Verify before the first
 * byte"). Pkg downloads a package once from its Pkg server and then goes elsewhere (GitHub, git),
 * so a broken transfer costs it the Pkg server; a status line sent only once the fill has
 * verified and stored the object lets a fill that failed on one upstream be tried on the next
 * while the client waits. The wait is bounded by the client's patience (Pkg aborts a transfer
 * below 1 byte/s for 20 s) and by size: past either, the requester streams from the running fill
 * with its last bytes held back until the verdict, as every cold request did before.
 */

import type { SharedFill } from "./shared/shared-fill";
import type { Committed, Streamed, Verified } from "./coordinator-calls";
import type { NoFill } from "./target";
import type { FillOutcome } from "./fill";
import type { Config } from "../config";

interface VerifyFirstPolicy {
  /** VERIFY_FIRST_PATIENCE_MS: how long the requester waits in all, across upstreams. */
  patienceMs: number;
  /** VERIFY_FIRST_MAX_BYTES: larger objects (and those of unknown length) stream at once; 0: all do. */
  maxBytes: number;
}

/** What the resource's coordinator lends the wait. */
export interface VerifyFirstContext {
  policy: VerifyFirstPolicy;
  /** How many upstreams a fill may be tried on: each failed fill passes its upstream over. */
  upstreamCount: number;
  /**
   * The running fill, or a new one from the next upstream that has the resource and is not passed
   * over; `joined`: this requester found that fill running or starting (it did not start it).
   */
  ensureFill(): Promise<{ started: NoFill | { kind: "ok"; fill: SharedFill }; joined: boolean }>;
  /** The requester's stream from a running fill (the fallback). */
  stream(fill: SharedFill, joined: boolean): Streamed;
  /** The answer when a fill failed for a reason no other upstream can fix (the bucket write failed). */
  outage(reason: string): Streamed;
}

/** Whether an object of this length may be waited for at all. */
function waitsFor(policy: VerifyFirstPolicy, length: number | undefined): boolean {
  return policy.maxBytes > 0 && policy.patienceMs > 0 && length !== undefined && length <= policy.maxBytes;
}

/**
 * The configuration of a fill started for requesters that wait for its verdict: each upstream is
 * given a third of the patience to send its next bytes and to show its pace against the
 * throughput floor, where UPSTREAM_IDLE_TIMEOUT_MS or UPSTREAM_MIN_RATE_WINDOW_MS are longer; so
 * an upstream that stalls or dribbles is given up (and passed over) in time for the next to be
 * tried within the patience. The wait for an answer (UPSTREAM_TIMEOUT_MS) is not shortened: when
 * every upstream is slow to answer, a shorter wait would only turn a late 200 into a 502. Only time spent
 * waiting for the upstream counts (watchdog.ts), so a slow bucket or verifier never puts the blame on it.
 */
export function waitedFillConfig(config: Config): Config {
  if (!waitsFor(config.verifyFirst, 0)) return config;
  const third = Math.floor(config.verifyFirst.patienceMs / 3);
  return {
    ...config,
    upstreamIdleTimeoutMs: Math.min(config.upstreamIdleTimeoutMs, Math.max(MIN_WAITED_MS, third)),
    upstreamMinRateWindowMs: Math.min(config.upstreamMinRateWindowMs, Math.max(MIN_WAITED_RATE_WINDOW_MS, third)),
  };
}

/** UPSTREAM_IDLE_TIMEOUT_MS's own lower bound. */
const MIN_WAITED_MS = 100;
/** UPSTREAM_MIN_RATE_WINDOW_MS's own lower bound. */
const MIN_WAITED_RATE_WINDOW_MS = 1000;

const PATIENCE_OUT = Symbol("patience out");

function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof PATIENCE_OUT> {
  if (ms <= 0) return Promise.resolve(PATIENCE_OUT);
  let timer: ReturnType<typeof setTimeout> | null = null;
  const out = new Promise<typeof PATIENCE_OUT>((resolve) => (timer = setTimeout(() => resolve(PATIENCE_OUT), ms)));
  return Promise.race([promise, out]).finally(() => clearTimeout(timer));
}

/**
 * Waits for the resource's fill to commit, and starts it again on the next upstream when an
 * upstream's bytes or pace failed it (that upstream is then passed over: fill.ts quarantines it,
 * locate.ts skips it). Every requester waiting here shares the one running fill. Answers
 * `verified` once a fill committed, the failure when no upstream is left, or the stream of the
 * running fill when the object is too large or the patience ran out.
 */
export async function verifyFirst(context: VerifyFirstContext): Promise<Verified> {
  const { policy } = context;
  const deadline = Date.now() + policy.patienceMs;
  // One fill per upstream, and one more start that finds none left (an outage) or the bucket's copy.
  for (let tries = 0; tries <= context.upstreamCount; tries++) {
    const { started, joined } = await context.ensureFill();
    if (started.kind === "not-modified") return { kind: "in-bucket" };
    if (started.kind !== "ok") return started;
    const { fill } = started;
    if (!waitsFor(policy, fill.length)) return context.stream(fill, joined);
    // Attended while waited for, so the fill is not let go before the requester streams from it.
    const release = fill.attend();
    let settled: FillOutcome | typeof PATIENCE_OUT;
    try {
      settled = await within(fill.outcome, deadline - Date.now());
      if (settled === PATIENCE_OUT) return context.stream(fill, joined);
    } finally {
      release();
    }
    if (settled.committed) return { kind: "verified", upstream: settled.upstream, joined };
    if (settled.blame === "store") return context.outage(settled.reason);
    // The upstream's bytes or pace failed: it is passed over, and the next fill is another's.
  }
  return context.outage("every upstream that has it failed to deliver verified bytes");
}

/**
 * Fills until a fill commits, without taking its bytes (a registry tarball stored before a list is
 * published): a fill that failed on an upstream's bytes or pace passed that upstream over, so the
 * next `begin` starts one from the next upstream. `upstreamCount` bounds the tries.
 */
export async function commitTrying(
  upstreamCount: number,
  begin: () => Promise<{ started: NoFill | { kind: "ok"; fill: SharedFill } }>,
): Promise<Committed> {
  let failed: Committed = { committed: false, reason: "no upstream was tried", absent: false };
  for (let tries = 0; tries <= upstreamCount; tries++) {
    const { started } = await begin();
    if (started.kind === "not-found") return { committed: false, reason: "no upstream has it", absent: true };
    if (started.kind === "not-modified") return { committed: true, bytes: 0 };
    if (started.kind !== "ok") return { committed: false, reason: started.detail, absent: false };
    const release = started.fill.attend();
    let outcome: FillOutcome;
    try {
      outcome = await started.fill.outcome;
    } finally {
      release();
    }
    if (outcome.committed) return { committed: true, bytes: outcome.bytes };
    failed = { committed: false, reason: outcome.reason, absent: false };
    if (outcome.blame === "store") return failed;
  }
  return failed;
}
