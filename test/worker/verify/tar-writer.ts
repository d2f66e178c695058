/**
 * A minimal tar writer for tests: builds exactly the headers a case needs, including ones no real
 * tool would write (bad checksums, device entries, `..`), so the reader's rejections can be tested.
 */

export interface RawEntry {
  name: string;
  /** Type flag: "0" file (default), "1" hardlink, "2" symlink, "5" directory, anything else as given. */
  type?: string;
  mode?: number;
  data?: Uint8Array | string;
  linkname?: string;
  /** Overrides the size field (data is still written as given). */
  size?: number;
  /** Edits the finished header (after the checksum is computed unless `rechecksum`). */
  patch?: (header: Uint8Array) => void;
  rechecksum?: boolean;
}

const enc = new TextEncoder();

function put(h: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = enc.encode(value);
  h.set(bytes.subarray(0, length), offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0") + "\0";
}

function checksum(h: Uint8Array): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
}

function header(e: RawEntry): Uint8Array {
  const h = new Uint8Array(512);
  const data = typeof e.data === "string" ? enc.encode(e.data) : (e.data ?? new Uint8Array(0));
  put(h, 0, 100, e.name);
  put(h, 100, 8, octal(e.mode ?? (e.type === "5" ? 0o755 : 0o644), 8));
  put(h, 108, 8, octal(0, 8));
  put(h, 116, 8, octal(0, 8));
  put(h, 124, 12, octal(e.size ?? data.length, 12));
  put(h, 136, 12, octal(0, 12));
  put(h, 156, 1, e.type ?? "0");
  put(h, 157, 100, e.linkname ?? "");
  put(h, 257, 6, "ustar\0");
  put(h, 263, 2, "00");
  checksum(h);
  if (e.patch) {
    e.patch(h);
    if (e.rechecksum) checksum(h);
  }
  return h;
}

export function tarBytes(entries: RawEntry[], options: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(header(e));
    const data = typeof e.data === "string" ? enc.encode(e.data) : (e.data ?? new Uint8Array(0));
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  if (options.end ?? true) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A pax extended header entry (type "x" or "g") carrying the given records. */
export function pax(records: Record<string, string>, type = "x"): RawEntry {
  let body = "";
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
    body += `${len}${rest}`;
  }
  return { name: "PaxHeader", type, data: body };
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A stream of `bytes` cut into pieces of pseudo-random sizes (deterministic for a seed). */
export function chunked(bytes: Uint8Array, seed = 1, maxChunk = 4096): ReadableStream<Uint8Array> {
  let x = seed;
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      x = (x * 1103515245 + 12345) % 2147483648;
      const n = 1 + (x % maxChunk);
      controller.enqueue(bytes.slice(offset, offset + n));
      offset += n;
    },
  });
}
