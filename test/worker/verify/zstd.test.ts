import { describe, expect, it } from "vitest";
import { treeHashOfTarGz, ExpansionRefused } from "../../../worker/verify/verify";
import { treeHashOfTarZst, ZstdRefused } from "../../../worker/verify/zstd";
import { zstdEncoder } from "../../../worker/verify/zstd-codec";
import { chunked, gzip, tarBytes, type RawEntry } from "./tar-writer";

const MiB = 1024 * 1024;
const options = { maxWindowBytes: 8 * MiB };

async function zstd(bytes: Uint8Array, level = 3): Promise<Uint8Array> {
  const encoder = zstdEncoder(level, 8 * MiB);
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    for (let next = await encoder.output.next(); !next.done; next = await encoder.output.next()) parts.push(next.value);
  })();
  for (let at = 0; at < bytes.length; at += 65536) await encoder.write(bytes.subarray(at, at + 65536));
  encoder.end();
  await reading;
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

/** A zstd frame of raw blocks (no compression at all), independent of any encoder. */
function rawZstd(bytes: Uint8Array): Uint8Array {
  const out: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]; // 8 MiB window, no checksum
  for (let at = 0; at < bytes.length || at === 0; at += 128 * 1024) {
    const part = bytes.subarray(at, at + 128 * 1024);
    const last = at + 128 * 1024 >= bytes.length;
    const header = (part.length << 3) | (last ? 1 : 0);
    out.push(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff);
    for (const b of part) out.push(b);
  }
  return Uint8Array.from(out);
}

const entries: RawEntry[] = [
  { name: "hello.txt", data: "hello\n" },
  { name: "bin/tool", data: "x".repeat(300_000), mode: 0o755 },
  { name: "link", type: "2", linkname: "hello.txt" },
];

describe("a zstd tarball is verified like a gzip one (protocol.md §4.4)", () => {
  it("has the tree hashes of the same tar gzipped, from the runtime's encoder at levels 1, 3 and 19", async () => {
    const tar = tarBytes(entries);
    const expected = await treeHashOfTarGz(chunked(await gzip(tar)));
    for (const level of [1, 3, 19]) {
      expect(await treeHashOfTarZst(chunked(await zstd(tar, level), level, 5000), options)).toEqual(expected);
    }
  });

  it("has them from raw zstd blocks made without an encoder", async () => {
    const tar = tarBytes(entries);
    expect(await treeHashOfTarZst(chunked(rawZstd(tar), 2, 999), options)).toEqual(await treeHashOfTarGz(chunked(await gzip(tar))));
  });

  it("refuses a frame declaring a 2 GiB window before decoding it", async () => {
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00]);
    await expect(treeHashOfTarZst(chunked(frame), { maxWindowBytes: 32 * MiB })).rejects.toBeInstanceOf(ZstdRefused);
  });

  it("refuses a corrupt stream (its content checksum or its blocks)", async () => {
    const good = await zstd(tarBytes(entries));
    for (const at of [good.length - 2, Math.floor(good.length / 2)]) {
      const bad = good.slice();
      bad[at] = bad[at]! ^ 0xff;
      await expect(treeHashOfTarZst(chunked(bad), options)).rejects.toThrow();
    }
  });

  it("refuses a whole tar followed by another frame (the decoder would drop it unread; zstd -d would not)", async () => {
    const tar = tarBytes(entries);
    const whole = await zstd(tar);
    const more = await zstd(new TextEncoder().encode("anything"));
    more[more.length - 1] = more[more.length - 1]! ^ 0xff; // its checksum is wrong: zstd -d refuses it
    const both = new Uint8Array(whole.length + more.length);
    both.set(whole);
    both.set(more, whole.length);
    const refused = await treeHashOfTarZst(chunked(both), options).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ZstdRefused);
    expect((refused as ZstdRefused).reason).toBe("unsupported");
  });

  it("refuses a stream cut short, gzip bytes, and a tar that is not whole", async () => {
    const tar = tarBytes(entries);
    const good = await zstd(tar);
    await expect(treeHashOfTarZst(chunked(good.subarray(0, good.length - 10)), options)).rejects.toThrow();
    await expect(treeHashOfTarZst(chunked(await gzip(tar)), options)).rejects.toBeInstanceOf(ZstdRefused);
    await expect(treeHashOfTarZst(chunked(await zstd(tar.subarray(0, 1000))), options)).rejects.toThrow();
  });

  it("passes a tarball whose gzip passes the ratio bound, though zstd compresses it far better (long matches)", async () => {
    // 400 copies of one 64 KiB random file: beyond gzip's 32 KiB window, within zstd's 8 MiB one.
    const block = new Uint8Array(64 * 1024);
    crypto.getRandomValues(block);
    const copies: RawEntry[] = Array.from({ length: 400 }, (_, i) => ({ name: `lib/copy${i}.so`, data: block as unknown as string }));
    const tar = tarBytes(copies);
    const bounds = { maxRatio: 200, ratioFloorBytes: MiB };
    const expected = await treeHashOfTarGz(chunked(await gzip(tar), 1, 65536), bounds);
    expect(await treeHashOfTarZst(chunked(await zstd(tar), 1, 65536), { ...options, ...bounds })).toEqual(expected);
  });

  it("applies the decompressed-size bound of the gzip path", async () => {
    const zeros = await zstd(tarBytes([{ name: "zeros", data: "\0".repeat(4 * MiB) }]));
    await expect(treeHashOfTarZst(chunked(zeros), { ...options, maxDecompressedBytes: MiB })).rejects.toBeInstanceOf(ExpansionRefused);
  });
});
