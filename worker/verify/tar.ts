/**
 * A streaming tar reader (protocol.md §7.2), push-based: feed it decompressed bytes in chunks of any
 * size and it calls its sink for each entry and for each piece of file data, holding at most one
 * 512-byte header (plus bounded extended-header records) in memory.
 *
 * Names are kept as "binary strings" (one char per byte, latin1), never decoded as UTF-8: git
 * and Pkg hash the raw bytes, and byte order is what git sorts by.
 */

type EntryType = "file" | "hardlink" | "symlink" | "directory";

export interface TarEntry {
  /** The path exactly as the archive gives it (after prefix, GNU and pax overrides). */
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  linkpath: string;
}

export interface TarSink {
  entry(entry: TarEntry): void | Promise<void>;
  /** File data of the current entry (regular files only). */
  data(chunk: Uint8Array): void | Promise<void>;
  entryEnd(): void | Promise<void>;
}

export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarError";
  }
}

const BLOCK = 512;
/** Long names and pax records are small; anything larger is not a sane archive. */
const MAX_EXTENDED_BYTES = 1024 * 1024;

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A NUL-terminated header field. */
function field(header: Uint8Array, offset: number, length: number): string {
  const slice = header.subarray(offset, offset + length);
  const nul = slice.indexOf(0);
  return latin1(nul < 0 ? slice : slice.subarray(0, nul));
}

/**
 * An octal number field, read as Tar.jl's `read_header_int` does: leading spaces skipped, digits
 * up to the first NUL or space, at least one digit, and nothing but octal digits before that.
 */
function octal(header: Uint8Array, offset: number, length: number, what: string): number {
  let value = 0;
  let digits = 0;
  for (let i = offset; i < offset + length; i++) {
    const byte = header[i]!;
    if (digits === 0 && byte === 0x20) continue;
    if (byte === 0x00 || byte === 0x20) break;
    if (byte < 0x30 || byte > 0x37) throw new TarError(`malformed ${what} field ${JSON.stringify(field(header, offset, length))}`);
    value = value * 8 + (byte - 0x30);
    if (!Number.isSafeInteger(value)) throw new TarError(`${what} field too large`);
    digits++;
  }
  if (digits === 0) throw new TarError(`empty ${what} field`);
  return value;
}

/** Size: octal ASCII, or big-endian base-256 when the first byte is 0x80 (protocol.md §7.2.3). */
function sizeField(header: Uint8Array): number {
  const first = header[124]!;
  if (first === 0x80) {
    let value = 0;
    for (let i = 125; i < 136; i++) value = value * 256 + header[i]!;
    if (!Number.isSafeInteger(value)) throw new TarError("size too large");
    return value;
  }
  if (first & 0x80) throw new TarError("negative or malformed size");
  return octal(header, 124, 12, "size");
}

function checksumOk(header: Uint8Array): boolean {
  const stored = octal(header, 148, 8, "checksum");
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === stored;
}

function isZeroBlock(header: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (header[i] !== 0) return false;
  return true;
}

/** Pax records: "<len> <key>=<value>\n", each length counting the whole record. */
function parsePax(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    let space = offset;
    while (space < data.length && data[space] !== 0x20) space++;
    const lengthText = latin1(data.subarray(offset, space));
    if (!/^\d+$/.test(lengthText)) throw new TarError("malformed pax record length");
    const length = Number(lengthText);
    const end = offset + length;
    if (length <= space - offset + 1 || end > data.length || data[end - 1] !== 0x0a) throw new TarError("malformed pax record");
    const record = latin1(data.subarray(space + 1, end - 1));
    const eq = record.indexOf("=");
    if (eq < 0) throw new TarError("malformed pax record");
    records.set(record.slice(0, eq), record.slice(eq + 1));
    offset = end;
  }
  return records;
}

type State =
  | { kind: "header" }
  | { kind: "data"; remaining: number; padding: number; collect: Uint8Array[] | null; collected: number; deliver: boolean }
  | { kind: "padding"; remaining: number }
  | { kind: "ended" };

export class TarReader {
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private state: State = { kind: "header" };
  /**
   * Overrides for the next real header, as Tar.jl's `read_header` keeps them: a copy of the global
   * records when the first extended header of a run is read, then every record in order (GNU L/K,
   * pax x, and pax g, which also updates the globals).
   */
  private metadata: Map<string, string> | null = null;
  /** Pax g records: persist for all later entries. */
  private readonly global = new Map<string, string>();
  private pendingExtended: { kind: "L" | "K" | "x" | "g" } | null = null;

  private readonly sink: TarSink;

  // A plain field, not a parameter property: operator tools load this module in Node, whose type
  // stripping does not rewrite parameter properties.
  constructor(sink: TarSink) {
    this.sink = sink;
  }

  /** True once the end-of-archive block has been read. */
  get ended(): boolean {
    return this.state.kind === "ended";
  }

  async push(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case "ended":
          return; // whatever follows the end-of-archive block is drained (protocol.md §7.2.1)
        case "header": {
          const n = Math.min(BLOCK - this.headerFill, chunk.length - offset);
          this.header.set(chunk.subarray(offset, offset + n), this.headerFill);
          this.headerFill += n;
          offset += n;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            await this.onHeader();
          }
          break;
        }
        case "data": {
          const n = Math.min(state.remaining, chunk.length - offset);
          const piece = chunk.subarray(offset, offset + n);
          if (state.collect) {
            state.collected += n;
            if (state.collected > MAX_EXTENDED_BYTES) throw new TarError("extended header too large");
            state.collect.push(piece.slice());
          } else if (state.deliver && n > 0) {
            await this.sink.data(piece);
          }
          state.remaining -= n;
          offset += n;
          if (state.remaining === 0) await this.onDataEnd(state);
          break;
        }
        case "padding": {
          const n = Math.min(state.remaining, chunk.length - offset);
          state.remaining -= n;
          offset += n;
          if (state.remaining === 0) this.state = { kind: "header" };
          break;
        }
      }
    }
  }

  /** The decompressed stream ended: the archive must not stop inside a header or an entry. */
  finish(): void {
    if (this.state.kind === "ended") return;
    if (this.state.kind !== "header" || this.headerFill !== 0) throw new TarError("archive truncated inside an entry");
    if (this.pendingExtended || this.metadata) throw new TarError("archive ends after an extended header");
    // Ending at a block boundary without the zero block is accepted (as Tar.jl does).
  }

  private async onHeader(): Promise<void> {
    const h = this.header;
    if (isZeroBlock(h)) {
      if (this.pendingExtended || this.metadata) throw new TarError("archive ends after an extended header");
      this.state = { kind: "ended" };
      return;
    }
    if (!checksumOk(h)) throw new TarError("header checksum mismatch");
    const version = field(h, 263, 2);
    if (!/^0* *$/.test(version)) throw new TarError(`unsupported tar version ${JSON.stringify(version)}`);
    const mode = octal(h, 100, 8, "mode");
    if (mode > 0xffff) throw new TarError("mode out of range");
    const typeflag = h[156] === 0 ? "0" : String.fromCharCode(h[156]!);
    let size = sizeField(h);

    if (typeflag === "L" || typeflag === "K" || typeflag === "x" || typeflag === "g") {
      if ((typeflag === "L" || typeflag === "K") && field(h, 0, 100) !== "././@LongLink")
        throw new TarError("GNU long name header with an unexpected name");
      this.pendingExtended = { kind: typeflag };
      await this.startData(size, true);
      return;
    }

    const name = field(h, 0, 100);
    const magic = field(h, 257, 6);
    const prefix = magic === "ustar" ? field(h, 345, 155) : "";
    let path = prefix !== "" ? `${prefix}/${name}` : name;
    let linkpath = field(h, 157, 100);
    const metadata = this.metadata ?? this.global;
    this.metadata = null;
    path = metadata.get("path") ?? path;
    linkpath = metadata.get("linkpath") ?? linkpath;
    const paxSized = metadata.get("size");
    if (paxSized !== undefined) size = paxSize(paxSized);

    const type = entryType(typeflag);
    if (type === "hardlink") linkpath = normalised(linkpath); // as Tar.jl's read_tarball does, before its checks
    validate(path, type, linkpath, size);
    const entry: TarEntry = { path, type, mode, size: type === "file" ? size : 0, linkpath };
    await this.sink.entry(entry);
    await this.startData(entry.size, type === "file");
  }

  /** Enters the data of an entry (or of an extended header, which is collected instead). */
  private async startData(size: number, deliver: boolean): Promise<void> {
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    const state: Extract<State, { kind: "data" }> = {
      kind: "data",
      remaining: size,
      padding,
      collect: this.pendingExtended ? [] : null,
      collected: 0,
      deliver,
    };
    this.state = state;
    if (size === 0) await this.onDataEnd(state);
  }

  private async onDataEnd(state: Extract<State, { kind: "data" }>): Promise<void> {
    if (state.collect) {
      const data = concat(state.collect, state.collected);
      const kind = this.pendingExtended!.kind;
      this.pendingExtended = null;
      this.metadata ??= new Map(this.global);
      const metadata = this.metadata;
      if (kind === "L" || kind === "K") {
        if (data.length === 0 || data[data.length - 1] !== 0) throw new TarError("GNU long name without its trailing NUL");
        metadata.set(kind === "L" ? "path" : "linkpath", latin1(data.subarray(0, data.length - 1)));
      } else {
        for (const [key, value] of parsePax(data)) {
          if (key !== "path" && key !== "linkpath" && key !== "size") continue;
          if (kind === "g") this.global.set(key, value);
          metadata.set(key, value);
        }
      }
    } else if (state.deliver) {
      await this.sink.entryEnd();
    }
    this.state = state.padding > 0 ? { kind: "padding", remaining: state.padding } : { kind: "header" };
  }
}

function paxSize(value: string): number {
  if (!/^\d+$/.test(value)) throw new TarError(`malformed pax size ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new TarError("pax size too large");
  return n;
}

function entryType(typeflag: string): EntryType {
  switch (typeflag) {
    case "0":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    default:
      throw new TarError(`unsupported entry type ${JSON.stringify(typeflag)}`);
  }
}

/** A hardlink target with empty and `.` components dropped (so `/a` names the archive's `a`, as in Tar.jl). */
function normalised(linkpath: string): string {
  return linkpath
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
}

/** The per-entry rejections of Tar.jl's `check_header` (protocol.md §7.2.7). */
function validate(path: string, type: EntryType, linkpath: string, size: number): void {
  if (path === "") throw new TarError("empty path");
  if (path.includes("\0") || linkpath.includes("\0")) throw new TarError("NUL in a path");
  if (path.startsWith("/")) throw new TarError(`absolute path ${JSON.stringify(path)}`);
  if (path.split("/").includes("..")) throw new TarError(`path with .. ${JSON.stringify(path)}`);
  const isLink = type === "symlink" || type === "hardlink";
  if (isLink && linkpath === "") throw new TarError("link with an empty target");
  if (!isLink && linkpath !== "") throw new TarError("link target on a non-link");
  if (type === "hardlink" && (linkpath.startsWith("/") || linkpath.split("/").includes("..")))
    throw new TarError("hardlink target outside the archive");
  if (type !== "file" && size !== 0) throw new TarError(`non-zero size on a ${type}`);
  if (type !== "directory" && path.endsWith("/")) throw new TarError(`non-directory path ending with '/' ${JSON.stringify(path)}`);
  if (type !== "directory" && (path === "." || path.endsWith("/.")))
    throw new TarError(`non-directory path ending with a '.' component ${JSON.stringify(path)}`);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
