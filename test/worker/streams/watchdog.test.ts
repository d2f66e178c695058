import { describe, expect, it } from "vitest";
import { BodyStalled, watchBody } from "../../../worker/streams/watchdog";
import { bytes, readAll, sleep, source } from "./sources";

/** A source that sends `bytesPerTick` every `tickMs`, forever. */
function dribble(bytesPerTick: number, tickMs: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async pull(controller) {
      await sleep(tickMs);
      controller.enqueue(bytes(bytesPerTick));
    },
  });
}

const watch = (s: ReadableStream<Uint8Array>, limits: Partial<Parameters<typeof watchBody>[1]>, onError?: (e: Error) => void) =>
  watchBody(s, { what: "upstream", idleMs: 200, ...limits }, onError).body;

describe("body watchdog: idle", () => {
  it("passes a body through and ends it cleanly", async () => {
    const out = await readAll(watch(source([bytes(5), bytes(5)]), {}));
    expect(out.error).toBeUndefined();
    expect(out.chunks.length).toBe(2);
  });

  it("fails a source that stops sending, within 1.5 times the idle time", async () => {
    let reported: unknown;
    const started = Date.now();
    const out = await readAll(watch(source([bytes(5), bytes(5)], { stallAfter: 1 }), {}, (e) => (reported = e)));
    expect(String(out.error)).toMatch(/^BodyStalled: /); // the reader sees it through a native stream: by name
    expect(reported).toBeInstanceOf(BodyStalled); // the callback gets the error itself
    expect(String(reported)).toMatch(/sent nothing for 200 ms/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("passes on a source error as an error, never as a clean end", async () => {
    const out = await readAll(watch(source([bytes(5), bytes(5)], { failAfter: 1 }), {}));
    expect(String(out.error)).toMatch(/^BodyStalled: /); // the reader sees it through a native stream: by name
    expect(String(out.error)).toMatch(/connection reset/);
  });

  it("fails a source that ends short of its announced length, never ending cleanly", async () => {
    let reported: unknown;
    const out = await readAll(watch(source([bytes(10), bytes(10)]), { length: 30 }, (e) => (reported = e)));
    expect(String(out.error)).toMatch(/^BodyStalled: upstream body ended after 20 of 30 bytes/);
    expect(reported).toBeInstanceOf(BodyStalled);
    expect((await readAll(watch(source([bytes(10), bytes(20)]), { length: 30 }))).error).toBeUndefined();
  });

  it("does not count a slow reader's pauses as an upstream stall", async () => {
    const out = await readAll(watch(source([bytes(5), bytes(5), bytes(5)]), { idleMs: 100 }), 350);
    expect(out.error).toBeUndefined();
    expect(out.chunks.length).toBe(3);
  });
});

describe("body watchdog: throughput floor and deadline", () => {
  it("fails a dribble that never trips the idle timeout: 20 bytes every 50 ms against a 1000 B/s floor", async () => {
    const started = Date.now();
    const out = await readAll(watch(dribble(20, 50), { idleMs: 200, minBytesPerSecond: 1000, rateWindowMs: 600 }));
    expect(String(out.error)).toMatch(/^BodyStalled: /); // the reader sees it through a native stream: by name
    expect(String(out.error)).toMatch(/bytes\/s over the last 600 ms, under the floor of 1000/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("lets a body above the floor run to its end", async () => {
    const chunks = Array.from({ length: 20 }, () => bytes(200));
    const out = await readAll(watch(source(chunks, { everyMs: 50 }), { idleMs: 200, minBytesPerSecond: 1000, rateWindowMs: 400 }));
    expect(out.error).toBeUndefined();
    expect(out.chunks.length).toBe(20);
  });

  it("does not blame the source for time its reader held back", async () => {
    // The source is instant; the reader takes 300 ms per chunk: no waiting for the source at all.
    const chunks = Array.from({ length: 5 }, () => bytes(1));
    const out = await readAll(watch(source(chunks), { idleMs: 200, minBytesPerSecond: 1_000_000, rateWindowMs: 200 }), 300);
    expect(out.error).toBeUndefined();
  });

  it("fails a body that outlives its deadline even while bytes keep coming", async () => {
    const out = await readAll(watch(dribble(1000, 20), { idleMs: 200, deadlineMs: 500 }));
    expect(String(out.error)).toMatch(/^BodyStalled: /); // the reader sees it through a native stream: by name
    expect(String(out.error)).toMatch(/deadline of 500 ms/);
  });
});
