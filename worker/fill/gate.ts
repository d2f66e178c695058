/**
 * The commit gate: a pass-through stream that holds back the last chunk until every check has
 * given its verdict. Whoever reads through the gate (the client, the bucket writer) therefore
 * never sees a clean end of a body that failed a check; a failed check errors the stream instead,
 * so the client sees a broken transfer (and Pkg retries) and the bucket write is abandoned.
 */

/** Who a failed body is put down to: the upstream's bytes or pace, or nobody (the fill was let go on purpose). */
export type Blame = "upstream" | "abandoned";

export type Verdict = { ok: true; details?: Record<string, unknown> } | { ok: false; reason: string; blame: Blame; details?: Record<string, unknown> };

/** Something that watches a body go by and says at the end whether it may be committed. */
export interface BodyCheck {
  /** Sees each chunk in order. May throw to fail the body at once (e.g. longer than announced). */
  update(chunk: Uint8Array): void | Promise<void>;
  /** Called after the last chunk. */
  finish(): Promise<Verdict>;
  /** Called when the body failed for another reason; releases whatever the check holds. */
  abandon(reason: unknown): void;
}

export class BodyRejected extends Error {
  constructor(
    readonly reason: string,
    readonly details: Record<string, unknown> = {},
    readonly blame: Blame = "upstream",
  ) {
    super(reason);
    this.name = "BodyRejected";
  }
}

/**
 * Bytes received must equal the announced Content-Length (spec §6.3 step 5a, E15), and never pass
 * `max` (a body of unknown length included).
 */
export function lengthCheck(expected: number | undefined, max = Infinity): BodyCheck {
  let received = 0;
  return {
    update(chunk) {
      received += chunk.byteLength;
      if (expected !== undefined && received > expected) {
        throw new BodyRejected("body longer than its Content-Length", { expected, received });
      }
      if (received > max) throw new BodyRejected(`body longer than FILL_MAX_BYTES (${max})`, { received });
    },
    async finish() {
      if (expected !== undefined && received !== expected) {
        return { ok: false, reason: "body shorter than its Content-Length", blame: "upstream", details: { expected, received } };
      }
      return { ok: true, details: { bytes: received } };
    },
    abandon() {},
  };
}

export interface CommitGate {
  stream: TransformStream<Uint8Array, Uint8Array>;
  /** Settles once the body has ended (with every check's verdict) or failed. */
  verdict: Promise<Verdict>;
  /** Fails the body from outside: the source broke (reset, stall), so the gate never sees an end. */
  abandon(reason: unknown): void;
}

export function commitGate(checks: readonly BodyCheck[]): CommitGate {
  let held: Uint8Array | null = null;
  let settle!: (v: Verdict) => void;
  const verdict = new Promise<Verdict>((r) => (settle = r));
  const fail = (err: unknown): never => {
    const rejected = err instanceof BodyRejected ? err : new BodyRejected(err instanceof Error ? err.message : String(err));
    for (const check of checks) check.abandon(rejected);
    settle({ ok: false, reason: rejected.reason, blame: rejected.blame, details: rejected.details });
    throw rejected;
  };
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      if (chunk.byteLength === 0) return;
      try {
        for (const check of checks) {
          const pending = check.update(chunk);
          if (pending) await pending; // most updates are synchronous: no promise per small chunk
        }
      } catch (err) {
        fail(err);
      }
      if (held) controller.enqueue(held);
      held = chunk;
    },
    async flush(controller) {
      let verdicts: Verdict[];
      try {
        verdicts = await Promise.all(checks.map((c) => c.finish()));
      } catch (err) {
        return fail(err);
      }
      const failed = verdicts.find((v) => !v.ok);
      if (failed && !failed.ok) return fail(new BodyRejected(failed.reason, failed.details));
      if (held) controller.enqueue(held);
      held = null;
      settle({ ok: true, details: Object.assign({}, ...verdicts.map((v) => v.details ?? {})) });
    },
  });
  const abandon = (reason: unknown) => {
    try {
      fail(reason);
    } catch {
      // fail() throws for the stream's sake; here the verdict is all that matters.
    }
  };
  return { stream, verdict, abandon };
}
