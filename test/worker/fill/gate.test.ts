import { describe, expect, it } from "vitest";
import { BodyRejected, commitGate, lengthCheck, type BodyCheck, type CommitGate } from "../../../worker/fill/gate";
import { bytes } from "../streams/sources";

/** Passes `chunks` through a gate as a fill does (reusing one buffer): what reached the sink, and how the body ended. */
async function through(checks: BodyCheck[], chunks: Uint8Array[]): Promise<{ gate: CommitGate; chunks: Uint8Array[]; error?: unknown }> {
  const received: Uint8Array[] = [];
  const gate = commitGate(checks, { write: async (b) => void received.push(b.slice()) });
  const reused = new Uint8Array(64);
  try {
    for (const chunk of chunks) {
      reused.set(chunk);
      await gate.pass(reused.subarray(0, chunk.byteLength));
      reused.fill(0xee); // the caller's buffer is reused: the gate must have kept its own copy
    }
    await gate.end();
    return { gate, chunks: received };
  } catch (error) {
    return { gate, chunks: received, error };
  }
}

function verdictCheck(ok: boolean): BodyCheck & { seen: number } {
  const check = {
    seen: 0,
    update(chunk: Uint8Array) {
      check.seen += chunk.byteLength;
    },
    async finish() {
      return ok ? { ok: true as const } : { ok: false as const, reason: "wrong hash", blame: "upstream" as const };
    },
    abandon() {},
  };
  return check;
}

describe("commit gate", () => {
  it("passes every byte through and ends cleanly when all checks agree", async () => {
    const out = await through([lengthCheck(30), verdictCheck(true)], [bytes(10), bytes(10, 2), bytes(10, 3)]);
    expect(out.error).toBeUndefined();
    expect(out.chunks).toEqual([bytes(10), bytes(10, 2), bytes(10, 3)]);
    expect((await out.gate.verdict).ok).toBe(true);
  });

  it("holds back the last chunk and breaks the stream when a check says no", async () => {
    const out = await through([lengthCheck(30), verdictCheck(false)], [bytes(10), bytes(10, 2), bytes(10, 3)]);
    expect(out.error).toBeInstanceOf(BodyRejected);
    expect(out.chunks).toEqual([bytes(10), bytes(10, 2)]); // the last chunk never left
    expect(await out.gate.verdict).toMatchObject({ ok: false, reason: "wrong hash" });
  });

  it("fails a body shorter than its Content-Length at the end, and a longer one at once", async () => {
    const short = await through([lengthCheck(31)], [bytes(10), bytes(10), bytes(10)]);
    expect(short.error).toBeDefined();
    expect(await short.gate.verdict).toMatchObject({ ok: false, reason: "body shorter than its Content-Length" });
    const long = await through([lengthCheck(15)], [bytes(10), bytes(10), bytes(10)]);
    expect(long.error).toBeDefined();
    expect(long.chunks.length).toBe(0);
    expect(await long.gate.verdict).toMatchObject({ ok: false, reason: "body longer than its Content-Length" });
  });
});
