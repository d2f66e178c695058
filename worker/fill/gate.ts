/**
 * The commit gate: passes a body's bytes on to the bucket writer, but holds back the last chunk
 * until every check has given its verdict. The bucket writer therefore never sees a clean end of
 * a body that failed a check; the fill breaks its stream instead, so the write is abandoned (and
 * the fill's requesters, whose last bytes also wait for the verdict, see a broken transfer).
 */

/**
 * Who a failed body is put down to: the upstream's bytes ("upstream": a check refused them), its
 * transfer ("broke": it reset, ended short, stalled or dribbled, and no other source gave the
 * rest), the object itself ("changed": a binary-mirror file replaced while it was being read), the
 * bucket write ("store"), or nobody ("abandoned": the fill was let go on purpose).
 */
export type Blame = "upstream" | "broke" | "changed" | "store" | "abandoned";

export type Verdict =
  | { ok: true; details?: Record<string, unknown> }
  | { ok: false; reason: string; blame: Blame; details?: Record<string, unknown> };

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
 * Bytes received must equal the announced Content-Length (protocol.md §6.3 step 5a, E15), and never pass
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
        return { ok: false, reason: "body shorter than its Content-Length", blame: "broke", details: { expected, received } };
      }
      return { ok: true, details: { bytes: received } };
    },
    abandon() {},
  };
}

/** Where the gate passes checked bytes (the bucket writer's outlet). */
export interface ByteSink {
  /** Resolves once the bytes were taken: the caller may reuse the buffer then. */
  write(bytes: Uint8Array): Promise<void>;
}

export interface CommitGate {
  /**
   * Checks a chunk, passes the one before it to the sink, and keeps a copy of this one. Throws
   * BodyRejected (and fails the verdict) if a check refuses the chunk.
   */
  pass(chunk: Uint8Array): Promise<void>;
  /** The body ended: gathers every check's verdict and, only if all passed, releases the held chunk. */
  end(): Promise<Verdict>;
  /** Settles once the body has ended (with every check's verdict) or failed. */
  verdict: Promise<Verdict>;
  /** Fails the body from outside: the source broke (reset, stall), so the gate never sees an end. */
  abandon(reason: unknown): void;
}

export function commitGate(checks: readonly BodyCheck[], sink: ByteSink): CommitGate {
  // The held-back chunk lives in a buffer of the gate's own: the caller reuses the chunk's buffer.
  let held = new Uint8Array(64 * 1024);
  let heldBytes = 0;
  let settled = false;
  let rejection: BodyRejected | null = null;
  let settle!: (v: Verdict) => void;
  const verdict = new Promise<Verdict>((r) => (settle = r));
  const fail = (err: unknown): never => {
    const rejected = err instanceof BodyRejected ? err : new BodyRejected(err instanceof Error ? err.message : String(err));
    if (!settled) {
      settled = true;
      rejection = rejected;
      for (const check of checks) check.abandon(rejected);
      settle({ ok: false, reason: rejected.reason, blame: rejected.blame, details: rejected.details });
    }
    throw rejection ?? rejected;
  };
  const already = () => fail(rejection ?? new BodyRejected("the body has ended"));
  return {
    verdict,
    async pass(chunk) {
      if (settled) return already();
      if (chunk.byteLength === 0) return;
      try {
        for (const check of checks) {
          const pending = check.update(chunk);
          if (pending) await pending; // most updates are synchronous: no promise per small chunk
        }
      } catch (err) {
        fail(err);
      }
      if (heldBytes > 0) await sink.write(held.subarray(0, heldBytes));
      if (chunk.byteLength > held.byteLength) held = new Uint8Array(chunk.byteLength);
      held.set(chunk);
      heldBytes = chunk.byteLength;
    },
    async end() {
      if (settled) return already();
      let verdicts: Verdict[];
      try {
        verdicts = await Promise.all(checks.map((c) => c.finish()));
      } catch (err) {
        return fail(err);
      }
      const failed = verdicts.find((v) => !v.ok);
      if (failed && !failed.ok) return fail(new BodyRejected(failed.reason, failed.details, failed.blame));
      if (heldBytes > 0) await sink.write(held.subarray(0, heldBytes));
      heldBytes = 0;
      settled = true;
      const ok: Verdict = { ok: true, details: Object.assign({}, ...verdicts.map((v) => v.details ?? {})) };
      settle(ok);
      return ok;
    },
    abandon(reason) {
      try {
        fail(reason);
      } catch {
        // fail() throws for the caller's sake; here the verdict is all that matters.
      }
    },
  };
}
