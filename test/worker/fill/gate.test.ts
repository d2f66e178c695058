import { describe, expect, it } from "vitest";
import { BodyRejected, commitGate, lengthCheck, type BodyCheck } from "../../../worker/fill/gate";
import { bytes, readAll, source } from "../streams/sources";

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
    const gate = commitGate([lengthCheck(30), verdictCheck(true)]);
    const out = await readAll(source([bytes(10), bytes(10, 2), bytes(10, 3)]).pipeThrough(gate.stream));
    expect(out.error).toBeUndefined();
    expect(out.chunks.map((c) => c[0])).toEqual([1, 2, 3]);
    expect((await gate.verdict).ok).toBe(true);
  });

  it("holds back the last chunk and breaks the stream when a check says no", async () => {
    const gate = commitGate([lengthCheck(30), verdictCheck(false)]);
    const out = await readAll(source([bytes(10), bytes(10, 2), bytes(10, 3)]).pipeThrough(gate.stream));
    expect(out.error).toBeInstanceOf(BodyRejected);
    expect(out.chunks.map((c) => c[0])).toEqual([1, 2]); // the last chunk never left
    expect(await gate.verdict).toMatchObject({ ok: false, reason: "wrong hash" });
  });

  it("fails a body shorter than its Content-Length at the end, and a longer one at once", async () => {
    const short = commitGate([lengthCheck(31)]);
    expect((await readAll(source([bytes(10), bytes(10), bytes(10)]).pipeThrough(short.stream))).error).toBeDefined();
    expect(await short.verdict).toMatchObject({ ok: false, reason: "body shorter than its Content-Length" });
    const long = commitGate([lengthCheck(15)]);
    const out = await readAll(source([bytes(10), bytes(10), bytes(10)]).pipeThrough(long.stream));
    expect(out.error).toBeDefined();
    expect(out.chunks.length).toBe(0);
    expect(await long.verdict).toMatchObject({ ok: false, reason: "body longer than its Content-Length" });
  });
});
