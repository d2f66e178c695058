import { describe, expect, it } from "vitest";
import { ChunkReader, Outlet } from "../../../worker/streams/bytes";
import { bytes, sleep, source } from "./sources";

/** 1 MiB of bytes that differ from block to block, so a stale or overwritten buffer shows. */
function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 12)) & 0xff;
  return out;
}

describe("Outlet", () => {
  it("lets the writer reuse its buffer once a write resolved, however slowly the reader takes the bytes", async () => {
    const data = pattern(1 << 20);
    const outlet = new Outlet();
    const writing = (async () => {
      const buffer = new Uint8Array(16 * 1024);
      for (let at = 0; at < data.length; at += buffer.length) {
        buffer.set(data.subarray(at, at + buffer.length));
        await outlet.write(buffer);
        buffer.fill(0xee); // reused at once: any byte the reader had not taken yet would now be wrong
      }
      await outlet.close();
    })();
    // The reader takes 1 KiB at a time, and pauses now and then.
    const reader = outlet.readable.getReader({ mode: "byob" });
    const received = new Uint8Array(data.length);
    let filled = 0;
    for (let reads = 0; ; reads++) {
      const { done, value } = await reader.read(new Uint8Array(1024));
      if (done) break;
      received.set(value, filled);
      filled += value.byteLength;
      if (reads % 97 === 0) await sleep(2);
    }
    await writing;
    expect(filled).toBe(data.length);
    expect(received).toEqual(data);
  });

  it("rejects a write once its reader has gone, and breaks the stream when aborted", async () => {
    const gone = new Outlet();
    await gone.readable.cancel("client left");
    await expect(gone.write(bytes(10))).rejects.toThrow();

    const broken = new Outlet();
    const reader = broken.readable.getReader();
    const written = broken.write(bytes(10));
    expect((await reader.read()).value?.byteLength).toBe(10);
    await written;
    broken.abort(new Error("verification failed"));
    await expect(reader.read()).rejects.toThrow(/verification failed/);
  });
});

describe("ChunkReader", () => {
  it("reads a native byte stream into one buffer of its size, every byte in order", async () => {
    const data = pattern(1 << 20);
    const outlet = new Outlet();
    void (async () => {
      for (let at = 0; at < data.length; at += 100_000) await outlet.write(data.subarray(at, at + 100_000));
      await outlet.close();
    })();
    const reader = new ChunkReader(outlet.readable, 32 * 1024);
    const received = new Uint8Array(data.length);
    let filled = 0;
    const sizes = new Set<number>();
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
      sizes.add(chunk.buffer.byteLength);
      received.set(chunk, filled);
      filled += chunk.byteLength;
    }
    expect(received).toEqual(data);
    expect([...sizes]).toEqual([32 * 1024]); // never a buffer of the stream's own
  });

  it("reads a stream made in JS chunk by chunk, skipping empty chunks", async () => {
    const reader = new ChunkReader(source([bytes(3), new Uint8Array(0), bytes(5, 2)]));
    expect(await reader.read()).toEqual(bytes(3));
    expect(await reader.read()).toEqual(bytes(5, 2));
    expect(await reader.read()).toBeNull();
  });
});
