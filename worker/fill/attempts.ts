/**
 * The fill backoff, as plain functions over a count and timestamps: a key whose fills keep failing
 * the same way (bad bytes everywhere, an archive too large to verify, an object that ends its
 * Durable Object) is refused for a while after FILL_MAX_ATTEMPTS failures in a row, not restarted
 * forever. The coordinator keeps the count in its storage (records.ts).
 */

import type { FillOutcome } from "./fill";

/** Consecutive failed fills of the key; removed by a commit. */
export interface Attempts {
  count: number;
  lastAt: number;
}

export const NO_ATTEMPTS: Attempts = { count: 0, lastAt: 0 };

export interface BackoffPolicy {
  /** FILL_MAX_ATTEMPTS: failures in a row after which the key is refused. */
  maxAttempts: number;
  /** FILL_BACKOFF_SECONDS: how long it is refused, counted from the last failure. */
  backoffSeconds: number;
}

/** How many seconds (rounded up) a fill of the key is still refused for at `now` (ms); 0 when one may start. */
export function backoffLeftSeconds(attempts: Attempts, policy: BackoffPolicy, now: number): number {
  const ends = attempts.lastAt + policy.backoffSeconds * 1000;
  if (attempts.count < policy.maxAttempts || now >= ends) return 0;
  return Math.ceil((ends - now) / 1000);
}

/**
 * The count once a fill has begun: it counts as failed until it settles otherwise, so a fill that
 * never reports (its object was evicted while it ran) is a failure too.
 */
export function begun(before: Attempts, now: number): Attempts {
  return { count: before.count + 1, lastAt: now };
}

/** How a fill that began ended, as far as the count is concerned. */
export type Settled = "committed" | "failed" | "let-go" | "nothing-fetched";

export function settledAs(outcome: FillOutcome): Settled {
  if (outcome.committed) return "committed";
  return outcome.blame === "abandoned" ? "let-go" : "failed";
}

/**
 * What the count becomes once a fill that began at `before` settled: cleared by a commit; given
 * back when the fill was let go on purpose or fetched nothing (nobody is to blame); null when it
 * stays as `begun` left it.
 */
export function countAfter(before: Attempts, settled: Settled): Attempts | null {
  if (settled === "committed") return NO_ATTEMPTS;
  if (settled === "failed") return null;
  return before;
}
