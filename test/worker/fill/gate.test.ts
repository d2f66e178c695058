import { describe, expect, it } from "vitest";
import { BodyRejected, commitGate, lengthCheck, withIdleTimeout, type BodyCheck } from "../../../worker/fill/gate";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function source(chunks: Uint8Array[], options: { stallAfter?: number; failAfter?: number } = {}): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (options.stallAfter !== undefined && i >= options.stallAfter) return new Promise(() => {}); // never answers
      if (options.failAfter !== undefined && i >= options.failAfter) return controller.error(new Error("connection reset"));
      if (i >= chunks.length) return controller.close();
      controller.enqueue(chunks[i++]!);
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>, pauseMs = 0): Promise<{ chunks: Uint8Array[]; error?: unknown }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { chunks };
      chunks.push(value);
      if (pauseMs) await sleep(pauseMs);
    }
  } catch (error) {
    return { chunks, error };
  }
}

function verdictCheck(ok: boolean): BodyCheck & { seen: number } {
  const check = {
    seen: 0,
    update(chunk: Uint8Array) {
      check.seen += chunk.byteLength;
    },
    async finish() {
      return ok ? { ok: true as const } : { ok: false as const, reason: "wrong hash" };
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

describe("idle watchdog", () => {
  it("passes a body through and ends it cleanly", async () => {
    const out = await readAll(withIdleTimeout(source([bytes(5), bytes(5)]), 200, () => {}));
    expect(out.error).toBeUndefined();
    expect(out.chunks.length).toBe(2);
  });

  it("fails a source that stops sending, within 1.5 times the idle time", async () => {
    let reported: unknown;
    const started = Date.now();
    const out = await readAll(withIdleTimeout(source([bytes(5), bytes(5)], { stallAfter: 1 }), 200, (e) => (reported = e)));
    expect(out.error).toBeInstanceOf(BodyRejected);
    expect(String(reported)).toMatch(/sent nothing for 200 ms/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("passes on a source error as an error, never as a clean end", async () => {
    const out = await readAll(withIdleTimeout(source([bytes(5), bytes(5)], { failAfter: 1 }), 200, () => {}));
    expect(out.error).toBeInstanceOf(BodyRejected);
    expect(String(out.error)).toMatch(/connection reset/);
  });

  it("does not count a slow reader's pauses as an upstream stall", async () => {
    const out = await readAll(withIdleTimeout(source([bytes(5), bytes(5), bytes(5)]), 100, () => {}), 350);
    expect(out.error).toBeUndefined();
    expect(out.chunks.length).toBe(3);
  });
});
