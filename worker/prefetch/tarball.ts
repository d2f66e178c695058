/**
 * Reading a few small files out of a gzipped tarball as it streams, through the verifier's tar
 * reader: what prefetching needs from registry snapshots and package tarballs.
 */

import { TarReader, type TarEntry, type TarSink } from "../verify/tar.ts";
import { ChunkReader } from "../streams/bytes.ts";

/** Streams `gzipped` through the tar reader into `sink`, to the end of the archive. */
export async function readTarGz(gzipped: ReadableStream<Uint8Array>, sink: TarSink): Promise<void> {
  const tar = new TarReader(sink);
  const reader = new ChunkReader(gzipped.pipeThrough(new DecompressionStream("gzip")));
  try {
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) await tar.push(chunk);
    tar.finish();
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

/**
 * A sink that keeps the text of the regular files `want` picks (by path, without a leading `./`)
 * and hands each to `done` when it ends. `want` returns false to skip a file; files over
 * `maxBytes` are refused with an error, since they cannot be what is wanted.
 */
export function textFiles(want: (path: string) => boolean, maxBytes: number, done: (path: string, text: string) => void): TarSink {
  let current: { path: string; parts: Uint8Array[]; bytes: number } | null = null;
  return {
    entry(entry: TarEntry) {
      current = null;
      const path = entry.path.replace(/^\.\//, "");
      if (entry.type !== "file" || !want(path)) return;
      if (entry.size > maxBytes) throw new Error(`${path} is ${entry.size} bytes, more than the ${maxBytes} expected`);
      current = { path, parts: [], bytes: 0 };
    },
    data(chunk) {
      if (!current) return;
      current.parts.push(chunk.slice());
      current.bytes += chunk.byteLength;
    },
    entryEnd() {
      if (!current) return;
      const bytes = new Uint8Array(current.bytes);
      let at = 0;
      for (const p of current.parts) {
        bytes.set(p, at);
        at += p.byteLength;
      }
      const { path } = current;
      current = null;
      done(path, new TextDecoder().decode(bytes));
    },
  };
}
