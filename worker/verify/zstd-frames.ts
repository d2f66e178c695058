/**
 * Walks the frames of a zstd stream as it arrives, without decoding, and refuses what the decoder
 * must not be given (protocol.md §7.1): a frame whose window (the history the decoder must hold in
 * memory) is larger than the bound, a frame that needs a dictionary, reserved bits, or a block
 * larger than its frame allows. A zstd frame may declare a window of up to 2 GiB (3.75 TiB in
 * theory), which would exhaust a 128 MB isolate long before a single byte is decoded; the frame
 * header says so in its first bytes, and each block header says how many bytes follow it, so this
 * costs a few comparisons per 128 KiB block and holds nothing.
 *
 * Layout (RFC 8878 §3.1): a frame is a 4-byte magic, a 2–14 byte header, blocks each with a 3-byte
 * header, and an optional 4-byte checksum. RFC 8878 lets frames (and skippable frames of user data)
 * follow one another, but the runtime's decoder stops after the first frame and drops the rest
 * unread, so anything after it could never be verified: a stream is one frame, as pkgedge's own
 * encoder makes, and a second frame is refused as `unsupported`.
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magics 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK_BYTES = 128 * 1024;

/** Why a zstd stream was refused before decoding: a typed value, so callers never read the message. */
export class ZstdRefused extends Error {
  /** `unsupported`: valid zstd pkgedge does not verify (several frames): not proof the bytes are wrong. */
  readonly reason: "window" | "dictionary" | "format" | "unsupported";

  constructor(message: string, reason: "window" | "dictionary" | "format" | "unsupported") {
    super(message);
    this.name = "ZstdRefused";
    this.reason = reason;
  }
}

type State =
  | { at: "magic" }
  | { at: "skippable-size" }
  | { at: "descriptor" }
  | { at: "header"; descriptor: number; size: number }
  | { at: "block-header"; window: number; checksum: boolean }
  | { at: "checksum" }
  | { at: "skip"; left: number; resume: State };

/** The little-endian unsigned number in `bytes[from, from + size)` (up to 8 bytes, exact below 2^53). */
function littleEndian(bytes: Uint8Array, from: number, size: number): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + bytes[from + i]!;
  return value;
}

/** How many header bytes follow the Frame_Header_Descriptor. */
function headerSize(descriptor: number): number {
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const windowBytes = singleSegment ? 0 : 1;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][contentSizeFlag]!;
  return windowBytes + dictionaryBytes + contentSizeBytes;
}

/** The window a frame header (the bytes after its descriptor) declares (RFC 8878 §3.1.1.1.2). */
export function frameWindow(descriptor: number, header: Uint8Array): { window: number; dictionary: number } {
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
  let at = 0;
  let window = 0;
  if (!singleSegment) {
    const windowDescriptor = header[at++]!;
    const log = 10 + (windowDescriptor >> 3);
    const base = 2 ** log;
    window = base + (base / 8) * (windowDescriptor & 7);
  }
  const dictionary = littleEndian(header, at, dictionaryBytes);
  at += dictionaryBytes;
  if (singleSegment) {
    const size = [1, 2, 4, 8][contentSizeFlag]!;
    // A single-segment frame's window is its whole content.
    window = littleEndian(header, at, size) + (size === 2 ? 256 : 0);
  }
  return { window, dictionary };
}

export class ZstdFrameGuard {
  private state: State = { at: "magic" };
  /** The few bytes of a header split across chunks. */
  private readonly pending = new Uint8Array(16);
  private filled = 0;
  private readonly maxWindow: number;
  private frames = 0;

  constructor(maxWindowBytes: number) {
    this.maxWindow = maxWindowBytes;
  }

  /** Checks the next bytes of the stream; throws ZstdRefused at the first thing the decoder must not see. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const state = this.state;
      if (state.at === "skip") {
        const step = Math.min(state.left, chunk.byteLength - offset);
        offset += step;
        state.left -= step;
        if (state.left === 0) this.state = state.resume;
        continue;
      }
      const need = this.needed(state);
      const take = Math.min(need - this.filled, chunk.byteLength - offset);
      this.pending.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled < need) return;
      this.filled = 0;
      this.state = this.next(state, this.pending.subarray(0, need));
    }
  }

  /** The stream ended: throws unless it ended between frames, after at least one. */
  finish(): void {
    if (this.state.at !== "magic" || this.filled !== 0) throw new ZstdRefused("the zstd stream ends inside a frame", "format");
    if (this.frames === 0) throw new ZstdRefused("the zstd stream holds no frame", "format");
  }

  private needed(state: Exclude<State, { at: "skip" }>): number {
    switch (state.at) {
      case "magic":
      case "skippable-size":
      case "checksum":
        return 4;
      case "descriptor":
        return 1;
      case "header":
        return state.size;
      case "block-header":
        return 3;
    }
  }

  private next(state: Exclude<State, { at: "skip" }>, bytes: Uint8Array): State {
    switch (state.at) {
      case "magic": {
        const magic = littleEndian(bytes, 0, 4);
        // The runtime's decoder stops after the first frame and drops the rest unread, so what follows
        // one could never be verified: one frame only, as pkgedge's own encoder makes.
        if (this.frames > 0 && (magic === ZSTD_MAGIC || (magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC))
          throw new ZstdRefused("a second zstd frame (pkgedge verifies single-frame variants only)", "unsupported");
        if (magic === ZSTD_MAGIC) return { at: "descriptor" };
        if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC)
          throw new ZstdRefused("a skippable zstd frame (pkgedge verifies single-frame variants only)", "unsupported");
        throw new ZstdRefused(`not a zstd frame (magic ${magic.toString(16).padStart(8, "0")})`, "format");
      }
      case "skippable-size": {
        const left = littleEndian(bytes, 0, 4);
        return left === 0 ? { at: "magic" } : { at: "skip", left, resume: { at: "magic" } };
      }
      case "descriptor": {
        const descriptor = bytes[0]!;
        if (descriptor & 0x08) throw new ZstdRefused("a zstd frame header sets its reserved bit", "format");
        return { at: "header", descriptor, size: headerSize(descriptor) };
      }
      case "header": {
        const { window, dictionary } = frameWindow(state.descriptor, bytes);
        if (dictionary !== 0) throw new ZstdRefused(`a zstd frame needs dictionary ${dictionary}`, "dictionary");
        if (window > this.maxWindow) {
          throw new ZstdRefused(`a zstd frame needs a ${window}-byte window, over ${this.maxWindow} (ZSTD_MAX_WINDOW_BYTES)`, "window");
        }
        this.frames++;
        return { at: "block-header", window, checksum: ((state.descriptor >> 2) & 1) === 1 };
      }
      case "block-header": {
        const header = littleEndian(bytes, 0, 3);
        const last = (header & 1) === 1;
        const type = (header >> 1) & 3;
        const size = header >>> 3;
        if (type === 3) throw new ZstdRefused("a zstd block of the reserved type", "format");
        if (size > Math.min(state.window, MAX_BLOCK_BYTES)) {
          throw new ZstdRefused(`a zstd block of ${size} bytes, more than its frame allows`, "format");
        }
        const after: State = last ? (state.checksum ? { at: "checksum" } : { at: "magic" }) : state;
        const onWire = type === 1 ? 1 : size; // an RLE block is one byte repeated
        return onWire === 0 ? after : { at: "skip", left: onWire, resume: after };
      }
      case "checksum":
        return { at: "magic" };
    }
  }
}
