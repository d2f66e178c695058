/**
 * Moving bytes through JS without allocating per chunk. In workerd every default read of a native
 * stream hands JS a freshly allocated buffer, and a JS ReadableStream returned as a body is read
 * back the same way; a multi-GB fill made of such 4–64 KiB buffers leaves hundreds of MB of
 * garbage the isolate collects too late (workerd's RSS grows by ~130 MB for 300 MB merely read
 * and dropped in JS, ~16 MB when read into one reused buffer: `npm run bench -- memory`). It is
 * also slow: workerd sends a JS-sourced body at ~35 MB/s, a native one at the socket's speed.
 *
 * So bytes are read into buffers that are reused (ChunkReader: BYOB reads) and written out through
 * native streams (Outlet: an IdentityTransformStream, whose write resolves once its reader has
 * taken the bytes, so the buffer may then be reused).
 */

/** workerd's native transforms, looked up so this module also loads in Node (operator tools read with ChunkReader). */
const workerd = globalThis as unknown as {
  IdentityTransformStream: new () => TransformStream<Uint8Array, Uint8Array>;
  FixedLengthStream: new (length: number) => TransformStream<Uint8Array, Uint8Array>;
};

/**
 * A fixed-size buffer filled from chunks of any size: batches of equal size (multipart parts, the
 * verifier's writes) without holding more than one batch.
 */
export class Batch {
  private readonly bytes: Uint8Array;
  private filled = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  get full(): boolean {
    return this.filled === this.bytes.byteLength;
  }

  get empty(): boolean {
    return this.filled === 0;
  }

  /** Copies from `chunk` at `offset` until the batch is full or the chunk used up; returns where it stopped. */
  take(chunk: Uint8Array, offset = 0): number {
    const n = Math.min(this.bytes.byteLength - this.filled, chunk.byteLength - offset);
    this.bytes.set(chunk.subarray(offset, offset + n), this.filled);
    this.filled += n;
    return offset + n;
  }

  /** The batch so far, emptied: the view is valid until the next take. */
  drain(): Uint8Array {
    const out = this.bytes.subarray(0, this.filled);
    this.filled = 0;
    return out;
  }
}

/** Reads a stream into one reused buffer: each chunk is a view that is valid until the next read. */
export class ChunkReader {
  private readonly byob: ReadableStreamBYOBReader | null;
  private readonly plain: ReadableStreamDefaultReader<Uint8Array> | null;
  private buffer: ArrayBuffer;

  constructor(stream: ReadableStream<Uint8Array>, bufferBytes = 64 * 1024) {
    this.buffer = new ArrayBuffer(bufferBytes);
    let byob: ReadableStreamBYOBReader | null = null;
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      // A stream made in JS (not a byte stream) has no BYOB reader; its chunks are its own anyway.
    }
    this.byob = byob;
    this.plain = byob ? null : stream.getReader();
  }

  /** The next bytes (at most the buffer's size), or null at the end. */
  async read(): Promise<Uint8Array | null> {
    if (this.plain) {
      for (;;) {
        const { done, value } = await this.plain.read();
        if (done) return null;
        if (value.byteLength > 0) return value;
      }
    }
    for (;;) {
      // A BYOB read takes the buffer over and gives it back in the result.
      const { done, value } = await this.byob!.read(new Uint8Array(this.buffer));
      if (value) this.buffer = value.buffer as ArrayBuffer;
      if (done) return null;
      if (value && value.byteLength > 0) return value;
    }
  }

  cancel(reason?: unknown): Promise<void> {
    return (this.byob ?? this.plain)!.cancel(reason).catch(() => {});
  }

  releaseLock(): void {
    (this.byob ?? this.plain)!.releaseLock();
  }
}

/**
 * A native byte stream that JS writes into. A write resolves once the reader has taken every byte
 * of it (IdentityTransformStream holds nothing of its own), so the written buffer may be reused
 * then; it rejects if the reader went away.
 *
 * Given its length, it is a FixedLengthStream: a response sends it with a Content-Length, R2 takes
 * it as a put body, and a stream that ends short or runs long errors instead of ending. (workerd
 * cannot pipe one such stream into another transform, so the length is set here, not downstream.)
 */
export class Outlet {
  readonly readable: ReadableStream<Uint8Array>;
  /** Settles once the stream ended (every byte taken by its reader) or broke, with the bytes taken. */
  readonly delivered: Promise<Delivered>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private taken = 0;
  private settle!: (d: Delivered) => void;

  constructor(length?: number) {
    const pipe = length === undefined ? new workerd.IdentityTransformStream() : new workerd.FixedLengthStream(length);
    this.readable = pipe.readable;
    this.writer = pipe.writable.getWriter();
    this.delivered = new Promise((r) => (this.settle = r));
    this.writer.closed.then(
      () => this.settle({ bytes: this.taken, complete: true }),
      (err: unknown) => this.settle({ bytes: this.taken, complete: false, error: errorText(err) }),
    ); // a broken stream is reported to its reader and here, never as an unhandled rejection
    outlets.set(this.readable, this);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength === 0) return;
    await this.writer.write(bytes);
    this.taken += bytes.byteLength;
  }

  /** Ends the stream cleanly. */
  close(): Promise<void> {
    return this.writer.close();
  }

  /** Breaks the stream: its reader sees an error, never a clean end. */
  abort(reason: unknown): void {
    this.writer.abort(reason).catch(() => {});
  }
}

/** What a response body delivered: `bytes` is null when the runtime moved them and did not say. */
export interface Delivered {
  bytes: number | null;
  complete: boolean;
  error?: string;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

const outlets = new WeakMap<ReadableStream<Uint8Array>, Outlet>();

/**
 * A response body that reports what it delivered. An Outlet's readable reports itself. A body of
 * known length (a bucket object, or a fill's stream from its coordinator) is piped natively into
 * one that carries the length: runtime speed, at no JS cost per chunk (for a crowd of fifty
 * readers of one fill, pumping each through JS cost a third of workerd's CPU), but only "all of
 * it" or "broken" is known, not how far a broken one got. A body of unknown length is pumped
 * through an Outlet, which counts the bytes the client took.
 */
export function deliver(
  body: ReadableStream<Uint8Array> | null,
  length: number | undefined,
  /** Names the transfer in the error a broken one ends with ("GET /artifact/…"). */
  what = "the response",
): { body: ReadableStream<Uint8Array> | null; delivered: Promise<Delivered> } {
  if (!body) return { body, delivered: Promise.resolve({ bytes: 0, complete: true }) };
  const outlet = outlets.get(body);
  if (outlet) return { body, delivered: outlet.delivered };
  if (length !== undefined) {
    const fixed = new workerd.FixedLengthStream(length);
    // The client's stream is broken with pkgedge's own error, not the source's (see BrokenTransfer).
    const delivered = body.pipeTo(fixed.writable, { preventAbort: true }).then(
      (): Delivered => ({ bytes: length, complete: true }),
      (err: unknown): Delivered => {
        fixed.writable.abort(new BrokenTransfer(what, err)).catch(() => {});
        return { bytes: null, complete: false, error: errorText(err) };
      },
    );
    return { body: fixed.readable, delivered };
  }
  const out = new Outlet(length);
  void pump(body, out, (err) => new BrokenTransfer(what, err));
  return { body: out.readable, delivered: out.delivered };
}

/**
 * The error a response body that pkgedge broke off ends with. The runtime prints it as an
 * uncaught error (`wrangler dev`: "✘ [ERROR] Uncaught Error: …"): breaking the body is the only way
 * a Worker can tell a client a transfer is not whole, so the line is unavoidable, and says so
 * itself rather than carry the bare "Network connection lost." of the stream it came through.
 */
class BrokenTransfer extends Error {
  constructor(what: string, cause: unknown) {
    super(
      `pkgedge broke off ${what} on purpose: its source failed (${errorText(cause)}); ` +
        "pkgedge never ends a transfer cleanly with bytes it could not verify (see its fill_rejected line)",
    );
    this.name = "BrokenTransfer";
  }
}

async function pump(body: ReadableStream<Uint8Array>, outlet: Outlet, broken: (err: unknown) => unknown = (err) => err): Promise<void> {
  const reader = new ChunkReader(body);
  try {
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) await outlet.write(chunk);
    await outlet.close();
  } catch (err) {
    outlet.abort(broken(err));
    void reader.cancel(err);
  }
}

/** `body` as a stream that carries its length (see Outlet), pumped through one reused buffer. */
export function withLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const outlet = new Outlet(length);
  void pump(body, outlet);
  return outlet.readable;
}

/**
 * A small text body, read chunk by chunk and given up (cancelled) past `max` bytes, so a body
 * without a Content-Length that goes on and on is never read into memory whole; null when larger.
 */
export async function textUpTo(body: ReadableStream<Uint8Array>, max: number): Promise<string | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) return null; // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
}
