import { describe, expect, it } from "vitest";
import { frameWindow, ZstdFrameGuard, ZstdRefused } from "../../../worker/verify/zstd-frames";

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const MiB = 1024 * 1024;

/** A block header: last flag, type (0 raw, 1 RLE, 2 compressed, 3 reserved), size. */
function block(last: boolean, type: number, size: number): number[] {
  const header = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff];
}

/** A frame of raw blocks (valid zstd that any decoder reads), with a window descriptor byte. */
function rawFrame(content: number[], windowDescriptor = 0x00, blockSize = 128 * 1024, checksum = false): number[] {
  const out = [...MAGIC, checksum ? 0x04 : 0x00, windowDescriptor];
  if (content.length === 0) return [...out, ...block(true, 0, 0), ...(checksum ? [0, 0, 0, 0] : [])];
  for (let at = 0; at < content.length; at += blockSize) {
    const part = content.slice(at, at + blockSize);
    out.push(...block(at + blockSize >= content.length, 0, part.length));
    for (const byte of part) out.push(byte);
  }
  if (checksum) out.push(1, 2, 3, 4);
  return out;
}

function check(bytes: number[], maxWindow = 8 * MiB, chunk = 5): void {
  const guard = new ZstdFrameGuard(maxWindow);
  for (let at = 0; at < bytes.length; at += chunk) guard.push(Uint8Array.from(bytes.slice(at, at + chunk)));
  guard.finish();
}

function refusal(bytes: number[], maxWindow = 8 * MiB): ZstdRefused {
  try {
    check(bytes, maxWindow);
  } catch (err) {
    if (err instanceof ZstdRefused) return err;
    throw err;
  }
  throw new Error("expected the stream to be refused");
}

describe("the window a zstd frame header declares (RFC 8878 §3.1.1.1.2)", () => {
  it.each<[string, number, number[], number]>([
    ["window descriptor 0: 1 KiB", 0x00, [0x00], 1024],
    ["exponent 13, mantissa 0: 8 MiB (zstd -19)", 0x00, [13 << 3], 8 * MiB],
    ["exponent 17, mantissa 0: 128 MiB (--long=27)", 0x00, [17 << 3], 128 * MiB],
    ["exponent 10, mantissa 4: 1.5 MiB", 0x00, [(10 << 3) | 4], 1.5 * MiB],
    ["exponent 21, mantissa 0: 2 GiB (--long=31)", 0x00, [21 << 3], 2048 * MiB],
    ["single segment, 1-byte content size: the content size", 0x20, [200], 200],
    ["single segment, 2-byte content size: 256 added", 0x60, [0x00, 0x01], 256 + 256],
    ["single segment, 4-byte content size", 0xa0, [0x00, 0x00, 0x00, 0x01], 16 * MiB],
    ["single segment, 8-byte content size past 4 GiB", 0xe0, [0, 0, 0, 0, 1, 0, 0, 0], 4096 * MiB],
  ])("%s", (_, descriptor, header, window) => {
    expect(frameWindow(descriptor, Uint8Array.from(header)).window).toBe(window);
  });

  it("reads the dictionary id after the window descriptor", () => {
    expect(frameWindow(0x02, Uint8Array.from([0x00, 0x34, 0x12]))).toEqual({ window: 1024, dictionary: 0x1234 });
  });
});

describe("walking zstd frames before they are decoded", () => {
  const content = Array.from({ length: 300 * 1024 }, (_, i) => i & 0xff);

  it("passes a frame of raw blocks split at any byte, with or without a checksum, and an empty one", () => {
    for (const frame of [rawFrame(content, 8 << 3), rawFrame([1, 2, 3], 0x00, 1024, true), rawFrame([])])
      for (const chunk of [1, 3, 7, 4096, frame.length]) expect(() => check(frame, 8 * MiB, chunk)).not.toThrow();
  });

  it.each<[string, number[]]>([
    ["a second frame (which the runtime's decoder would drop unread)", rawFrame([1, 2, 3]).concat(rawFrame([4, 5, 6]))],
    ["a skippable frame", [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9].concat(rawFrame([1, 2, 3]))],
    ["a skippable frame after the frame", rawFrame([1, 2, 3]).concat([0x5f, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])],
  ])("refuses %s as unsupported (valid zstd, but not verifiable here)", (_, bytes) => {
    expect(refusal(bytes).reason).toBe("unsupported");
  });

  it("passes RLE blocks (one byte on the wire for up to 128 KiB out)", () => {
    expect(() => check([...MAGIC, 0x00, 7 << 3, ...block(false, 1, 128 * 1024), 0x61, ...block(true, 1, 5), 0x62])).not.toThrow();
  });

  it("refuses a frame declaring a window over the bound before any block", () => {
    const huge = [...MAGIC, 0x00, 21 << 3]; // 2 GiB, and nothing else: refused on the header alone
    const guard = new ZstdFrameGuard(32 * MiB);
    expect(() => guard.push(Uint8Array.from(huge))).toThrow(ZstdRefused);
    expect(refusal(huge, 32 * MiB).reason).toBe("window");
    expect(refusal(huge, 32 * MiB).message).toMatch(/2147483648-byte window, over 33554432 \(ZSTD_MAX_WINDOW_BYTES\)/);
  });

  it("refuses a single-segment frame whose content (its window) is over the bound", () => {
    expect(refusal([...MAGIC, 0xa0, 0x00, 0x00, 0x00, 0x10], 64 * MiB).reason).toBe("window"); // 256 MiB
  });

  it("refuses a later frame after a good one, whatever its window", () => {
    expect(refusal([...rawFrame([1, 2, 3]), ...MAGIC, 0x00, 18 << 3], 64 * MiB).reason).toBe("unsupported");
  });

  it("refuses frames that need a dictionary", () => {
    expect(refusal([...MAGIC, 0x01, 0x00, 0x07, ...block(true, 0, 0)]).reason).toBe("dictionary");
  });

  it.each<[string, number[]]>([
    ["gzip bytes", [0x1f, 0x8b, 0x08, 0x00]],
    ["the reserved descriptor bit", [...MAGIC, 0x08, 0x00]],
    ["a block of the reserved type", [...MAGIC, 0x00, 0x00, ...block(true, 3, 0)]],
    ["a block larger than 128 KiB", [...MAGIC, 0x00, 13 << 3, ...block(true, 0, 128 * 1024 + 1)]],
    ["a block larger than its frame's window", [...MAGIC, 0x20, 10, ...block(true, 0, 11)]],
  ])("refuses %s", (_, bytes) => {
    expect(refusal(bytes).reason).toBe("format");
  });

  it.each<[string, number[]]>([
    ["an empty stream", []],
    ["a stream cut inside a block", rawFrame([1, 2, 3, 4, 5]).slice(0, -2)],
    ["a stream cut before its checksum", rawFrame([1, 2, 3], 0x00, 1024, true).slice(0, -1)],
  ])("refuses %s at its end", (_, bytes) => {
    expect(refusal(bytes).reason).toBe("format");
  });
});
