/** Scripted byte sources and a reader that records how a stream ended, for stream-stage tests. */

export const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `chunks` in order (each after `everyMs`), or stops answering / fails after some of them. */
export function source(
  chunks: Uint8Array[],
  options: { stallAfter?: number; failAfter?: number; everyMs?: number } = {},
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (options.stallAfter !== undefined && i >= options.stallAfter) return new Promise(() => {}); // never answers
      if (options.failAfter !== undefined && i >= options.failAfter) return controller.error(new Error("connection reset"));
      if (i >= chunks.length) return controller.close();
      if (options.everyMs) await sleep(options.everyMs);
      controller.enqueue(chunks[i++]!);
    },
  });
}

/** Reads to the end (pausing `pauseMs` after each chunk): the chunks, and the error if it broke. */
export async function readAll(stream: ReadableStream<Uint8Array>, pauseMs = 0): Promise<{ chunks: Uint8Array[]; error?: unknown }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { chunks };
      chunks.push(value);
      if (pauseMs) await sleep(pauseMs);
    }
  } catch (error) {
    return { chunks, error };
  }
}
