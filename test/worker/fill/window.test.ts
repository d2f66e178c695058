/** The window, its flow control and the block ledger, as pure pieces fed with vectors. */

import { describe, expect, it } from "vitest";
import { Window } from "../../../worker/fill/shared/window";
import { PacedWindow } from "../../../worker/fill/shared/paced-window";
import { BlockLedger } from "../../../worker/fill/shared/block-ledger";

/** Deterministic bytes and chunk sizes (a small LCG), so a failure reproduces. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x;
  };
}

function vector(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const next = lcg(seed);
  for (let i = 0; i < size; i++) out[i] = next() >>> 24;
  return out;
}

function* chunks(data: Uint8Array, seed: number, max: number): Generator<Uint8Array> {
  const next = lcg(seed);
  for (let i = 0; i < data.length; ) {
    const n = 1 + (next() % max);
    yield data.subarray(i, i + n);
    i += n;
  }
}

describe("window", () => {
  it.each([
    [1, 100_000, 1024, 4096, 700],
    [2, 100_000, 1024, 4096, 5000],
    [3, 33_333, 512, 512, 1],
  ])("holds the last bytes appended, readable at any offset (seed %i)", (seed, size, block, capacity, max) => {
    const data = vector(size, seed);
    const w = new Window(block, capacity);
    for (const chunk of chunks(data, seed, max)) {
      w.append(chunk);
      expect(w.end - w.start).toBeLessThanOrEqual(capacity + block); // bounded
      expect(w.start % block).toBe(0);
      // Every byte still held reads back as appended, in pieces of any size.
      for (let at = w.start; at < w.end; at += 333)
        expect(w.read(at, 100)).toEqual(data.subarray(at, Math.min(at + 100, w.end, Math.floor(at / block) * block + block)));
    }
    expect(w.end).toBe(size);
    expect(w.read(w.start - 1, 10)).toBeNull(); // gone
    expect(w.read(w.end, 10)).toBeNull(); // not yet
  });

  it("reports each block as it fills, then the tail, numbered from offset 0", () => {
    const data = vector(10_000, 7);
    const w = new Window(1024, 4096);
    const blocks: [number, number][] = [];
    for (const chunk of chunks(data, 7, 3000)) for (const b of w.append(chunk)) blocks.push([b.index, b.bytes[0]!]);
    expect(blocks.map(([i]) => i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(blocks.map(([, first]) => first)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => data[i * 1024]));
    const tail = w.tail()!;
    expect(tail.index).toBe(9);
    expect(tail.bytes).toEqual(data.subarray(9 * 1024));
  });

  it("starts at a block-aligned origin and numbers blocks from the object's start", () => {
    const w = new Window(1024, 4096, 3 * 1024);
    const done = w.append(vector(1024, 1));
    expect(done.map((b) => b.index)).toEqual([3]);
    expect(w.read(3 * 1024, 4)).toEqual(vector(1024, 1).subarray(0, 4));
  });

  it("can be let go: later reads miss, the end stays", () => {
    const w = new Window(1024, 4096);
    w.append(vector(3000, 1));
    w.release();
    expect(w.read(0, 10)).toBeNull();
    expect([w.start, w.end]).toEqual([3000, 3000]);
  });
});

describe("flow control", () => {
  it("waits for a requester in the way, but only for the patience, then drops it for good", async () => {
    let now = 0;
    const paced = new PacedWindow(new Window(1024, 2048), 2000, () => now);
    const stuck = paced.join(0)!;
    await paced.feed(vector(2048, 1)); // fits without moving the front
    let fed = false;
    const third = paced.feed(vector(2048, 2)).then(() => (fed = true));
    await new Promise((r) => setTimeout(r, 120));
    expect(fed, "the feed waits while the requester is within its patience").toBe(false);
    now = 2500;
    await third;
    expect(stuck.dropped).toBe(true);
    expect(paced.readerCount).toBe(0);
    expect(paced.take(stuck, 100, Infinity)).toBeNull(); // it must read from elsewhere now
  });

  it("does not wait for a requester that keeps up", async () => {
    const paced = new PacedWindow(new Window(1024, 2048), 60_000);
    const reader = paced.join(0)!;
    const data = vector(20_000, 3);
    const got: Uint8Array[] = [];
    const feeding = (async () => {
      for (const chunk of chunks(data, 3, 900)) await paced.feed(chunk);
    })();
    while (reader.offset < data.length) {
      const bytes = paced.take(reader, 512, data.length);
      if (bytes)
        got.push(bytes.slice()); // a view, valid until the next append
      else await paced.changed();
    }
    await feeding;
    expect(new Uint8Array(await new Blob(got).arrayBuffer())).toEqual(data);
    expect(reader.dropped).toBe(false);
  });

  it("refuses a requester whose start has already left", async () => {
    const paced = new PacedWindow(new Window(1024, 1024), 10);
    await paced.feed(vector(5000, 1));
    expect(paced.join(0)).toBeNull();
    expect(paced.join(paced.window.start)).not.toBeNull();
  });
});

describe("block ledger", () => {
  it("matches a block only against the same bytes at the same index, waiting for the fill to record it", async () => {
    const ledger = new BlockLedger();
    const a = vector(1024, 1);
    const b = vector(1024, 2);
    const pending = ledger.matches(1, b, () => false);
    ledger.add(0, a);
    ledger.add(1, b);
    expect(await pending).toBe(true);
    expect(await ledger.matches(0, a, () => false)).toBe(true);
    expect(await ledger.matches(0, b, () => false)).toBe(false);
    const changed = b.slice();
    changed[500]! ^= 1;
    expect(await ledger.matches(1, changed, () => false)).toBe(false);
  });

  it("copies the bytes when recording, so the caller may reuse its buffer at once", async () => {
    const ledger = new BlockLedger();
    const buffer = vector(1024, 5);
    const original = buffer.slice();
    ledger.add(0, buffer);
    buffer.fill(0);
    expect(await ledger.matches(0, original, () => false)).toBe(true);
  });

  it("gives up waiting once the fill has failed", async () => {
    const ledger = new BlockLedger();
    expect(await ledger.matches(3, vector(10, 1), () => true)).toBe(false);
  });
});
