/**
 * The isolate's own memory, read through wrangler's DevTools inspector (`Runtime.getHeapUsage`):
 * the V8 heap in use and the ArrayBuffers' backing stores. That is what the Workers memory limit is
 * about, where workerd's RSS also counts the runtime's own buffers, its allocator's free lists and
 * the local bucket simulator.
 */

/** wrangler's inspector proxy takes connections from its DevTools front end's origin. */
const DEVTOOLS_ORIGIN = "https://devtools.devprod.cloudflare.dev";

export interface HeapPeak {
  /** Before the work, used heap + backing stores. */
  idle: number;
  /** The most, at any sample, of used heap + backing stores. */
  peak: number;
  /** The most V8 heap in use, and the most backing-store bytes, each at its own sample. */
  used: number;
  backing: number;
}

interface Usage {
  usedSize: number;
  backingStorageSize: number;
}

/** Samples the isolate under the inspector at `port` every `everyMs` until stopped. */
export async function sampleHeap(port: number, everyMs = 50): Promise<{ stop(): Promise<HeapPeak> }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target at 127.0.0.1:${port}`);
  // Node's WebSocket takes headers as undici's extension of the standard options.
  const Socket = WebSocket as unknown as new (url: string, init: { headers: Record<string, string> }) => WebSocket;
  const socket = new Socket(url, { headers: { origin: DEVTOOLS_ORIGIN } });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`the inspector at ${url} refused the connection`));
  });
  let next = 0;
  const waiting = new Map<number, (usage: Usage) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: Usage };
    if (message.id !== undefined && message.result) waiting.get(message.id)?.(message.result);
    if (message.id !== undefined) waiting.delete(message.id);
  };
  const usage = () =>
    new Promise<Usage>((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method: "Runtime.getHeapUsage" }));
    });
  const first = await usage();
  const peak: HeapPeak = {
    idle: first.usedSize + first.backingStorageSize,
    peak: 0,
    used: first.usedSize,
    backing: first.backingStorageSize,
  };
  peak.peak = peak.idle;
  let running = true;
  const sampling = (async () => {
    while (running) {
      const u = await usage();
      peak.used = Math.max(peak.used, u.usedSize);
      peak.backing = Math.max(peak.backing, u.backingStorageSize);
      peak.peak = Math.max(peak.peak, u.usedSize + u.backingStorageSize);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await sampling;
      socket.close();
      return peak;
    },
  };
}
