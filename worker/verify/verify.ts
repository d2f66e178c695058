/**
 * Verifying a gzipped tarball as it streams by: gunzip (DecompressionStream) → tar reader → tree
 * builder, computing both tree hashes in one pass. Independent of Hono, the bucket and fetch, so
 * the fill path, tests, benchmarks and operator tools all use the same code.
 */

import { TarReader, TarError } from "./tar.ts";
import { TreeBuilder, type StreamingSha1, type TreeHashes } from "./tree.ts";
import { Batch, ChunkReader } from "../streams/bytes.ts";

export type { StreamingSha1, TreeHashes };
export { TarError };

const MiB = 1024 * 1024;

/**
 * Decompressed bytes may be at most this many times the compressed bytes given so far. Real
 * tarballs expand a few times (JLL artifacts rarely over 10:1); deflate itself cannot exceed about
 * 1032:1, which a gzip of zeros (a bomb) reaches. 200 leaves real archives a wide margin.
 */
export const DEFAULT_MAX_RATIO = 200;
/**
 * Below this many decompressed bytes the ratio is not applied: small archives are mostly tar
 * padding (a 200-byte tarball of one small file expands to 10 KiB), and 64 MiB costs a fraction
 * of a second of CPU, so a bomb gains nothing under it.
 */
const RATIO_FLOOR_BYTES = 64 * MiB;

/** Why an archive was refused for what it expands to: a typed value, so callers never read the message. */
export class ExpansionRefused extends Error {
  readonly limit: "ratio" | "total";
  readonly compressed: number;
  readonly decompressed: number;

  constructor(message: string, limit: "ratio" | "total", compressed: number, decompressed: number) {
    super(message);
    this.name = "ExpansionRefused";
    this.limit = limit;
    this.compressed = compressed;
    this.decompressed = decompressed;
  }
}

/**
 * Counts both sides of the gunzip stream and refuses as soon as the decompressed side passes its
 * bound, so a bomb costs the bound's CPU, not the whole expansion. The ratio is taken against the
 * compressed bytes received so far (never a length the sender announced).
 */
export class ExpansionBound {
  compressed = 0;
  private decompressed = 0;
  private readonly options: HashOptions;

  constructor(options: HashOptions) {
    this.options = options;
  }

  get decompressedSoFar(): number {
    return this.decompressed;
  }

  decompress(bytes: number): void {
    this.decompressed += bytes;
    const maxBytes = this.options.maxDecompressedBytes ?? Infinity;
    if (this.decompressed > maxBytes) {
      throw new ExpansionRefused(
        `decompresses to more than ${maxBytes} bytes (VERIFY_MAX_DECOMPRESSED_BYTES)`,
        "total",
        this.compressed,
        this.decompressed,
      );
    }
    const ratio = this.options.maxRatio ?? DEFAULT_MAX_RATIO;
    const floor = this.options.ratioFloorBytes ?? RATIO_FLOOR_BYTES;
    if (this.decompressed > floor && this.decompressed > ratio * this.compressed) {
      throw new ExpansionRefused(
        `decompresses to more than ${ratio} times its compressed size (VERIFY_MAX_RATIO): ${this.decompressed} bytes from the first ${this.compressed}`,
        "ratio",
        this.compressed,
        this.decompressed,
      );
    }
  }
}

export interface TarGzHasher {
  /**
   * Feeds compressed bytes (copied: the caller may reuse its buffer). Returns a promise only when a
   * batch went to the decompressor, so callers get backpressure without a promise per small chunk.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /** No more bytes: resolves to the hashes, or rejects if the gzip or tar stream did not end properly. */
  finish(): Promise<TreeHashes>;
  /** Stops early, releasing everything. */
  abort(reason: unknown): void;
  /** Bytes fed to the decompressor and come out of it so far (for a refusal's log line). */
  progress(): { compressed: number; decompressed: number };
}

/**
 * workerd's gunzip stops at the end of the first gzip member and calls anything after it trailing
 * bytes, without saying where the member ended; so a multi-member gzip (protocol.md §7.1) cannot be
 * followed into its next member and is rejected. Tarballs from Tar.create, gzip and 7z are single-member.
 */
function explain(err: unknown): unknown {
  if (err instanceof Error && /trailing bytes/i.test(err.message)) {
    return new Error("data after the end of the gzip stream (a second gzip member, or junk); multi-member gzip is not supported");
  }
  return err;
}

/** Compressed bytes go to the gunzip stream in batches: workerd's 4 KiB pieces one by one cost more than the decompression. */
const BATCH_BYTES = 64 * 1024;

/** Where decompressed bytes come from: a ChunkReader over a stream, or a codec's output. */
export interface ChunkSource {
  /** The next bytes, or null at the end. */
  read(): Promise<Uint8Array | null>;
  cancel(reason?: unknown): Promise<void>;
}

/** Reads decompressed bytes through the tar reader to the end, then resolves to the hashes. */
export async function hashDecompressed(reader: ChunkSource, options: HashOptions, bound: ExpansionBound): Promise<TreeHashes> {
  const tree = new TreeBuilder(options.sha1, options.maxEntries);
  const tar = new TarReader(tree);
  try {
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
      bound.decompress(chunk.byteLength);
      await tar.push(chunk);
    }
    tar.finish();
  } catch (err) {
    void reader.cancel(err);
    throw explain(err);
  }
  return tree.hashes();
}

export interface HashOptions {
  /** An incremental SHA-1 where crypto.DigestStream does not exist (Node). */
  sha1?: () => StreamingSha1;
  /** Archives with more entries are refused (the tree is held in memory). */
  maxEntries?: number;
  /** Decompressed bytes may be at most this many times the compressed bytes so far (past the floor). Default DEFAULT_MAX_RATIO. */
  maxRatio?: number;
  /** Decompressed bytes up to which the ratio is not applied. Default RATIO_FLOOR_BYTES. */
  ratioFloorBytes?: number;
  /** Decompressed bytes in all (default: no limit). */
  maxDecompressedBytes?: number;
}

/**
 * The push form, for the fill: bytes arrive as the commit gate passes them on. They are copied
 * into one batch buffer, reused once the gunzip stream has taken it (awaited writes), so nothing
 * is allocated per chunk.
 */
export function createTarGzHasher(options: HashOptions = {}): TarGzHasher {
  const gunzip = new DecompressionStream("gzip");
  const input = gunzip.writable.getWriter();
  input.closed.catch(() => {});
  const bound = new ExpansionBound(options);
  const consumed = hashDecompressed(new ChunkReader(gunzip.readable), options, bound);
  // Surface a failure on the next write instead of waiting for finish().
  let failure: unknown = null;
  consumed.catch((err) => (failure = err));

  const batch = new Batch(BATCH_BYTES);
  const send = async () => {
    const bytes = batch.drain();
    bound.compressed += bytes.byteLength;
    // The gunzip stream ends at the end of its gzip member: a write after that would wait forever.
    await Promise.race([input.write(bytes).catch((err) => Promise.reject(failure ?? explain(err))), consumed.then(() => {})]);
    if (failure) throw failure;
  };

  return {
    write(chunk) {
      if (failure) throw failure;
      const used = batch.take(chunk);
      if (!batch.full) return;
      return (async () => {
        await send();
        for (let offset = used; offset < chunk.byteLength; ) {
          offset = batch.take(chunk, offset);
          if (batch.full) await send();
        }
      })();
    },
    async finish() {
      if (failure) throw failure;
      if (!batch.empty) await send();
      await input.close().catch((err) => {
        throw failure ?? explain(err);
      });
      return consumed;
    },
    abort(reason) {
      input.abort(reason).catch(() => {});
    },
    progress: () => ({ compressed: bound.compressed, decompressed: bound.decompressedSoFar }),
  };
}

/**
 * Both tree hashes of a whole gzipped tarball stream (the compressed side piped natively). In
 * workerd `body` must not be the readable side of a native transform (an Outlet, a watched S3
 * body): workerd cannot pipe one transform into another. Feed those to createTarGzHasher instead.
 */
export async function treeHashOfTarGz(body: ReadableStream<Uint8Array>, options: HashOptions = {}): Promise<TreeHashes> {
  const gunzip = new DecompressionStream("gzip");
  const bound = new ExpansionBound(options);
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bound.compressed += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  const piped = body
    .pipeThrough(counted)
    .pipeTo(gunzip.writable)
    .catch((err) => Promise.reject(explain(err)));
  const [hashes] = await Promise.all([hashDecompressed(new ChunkReader(gunzip.readable), options, bound), piped]);
  return hashes;
}
