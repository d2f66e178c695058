/** Small helpers shared by the benchmarks: timing, a static file server, formatting. */

import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const MB = 1e6;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** Median of `runs` timings (the machines are noisy; medians and same-run ratios, not absolutes). */
export async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed(fn)).ms);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function shellMs(command: string): number {
  const start = performance.now();
  const r = spawnSync("bash", ["-c", command], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${command} failed`);
  return performance.now() - start;
}

export function shellMedianMs(runs: number, command: string): number {
  const times = Array.from({ length: runs }, () => shellMs(command)).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Serves files from disk on 127.0.0.1: path → file. */
export async function staticServer(files: Map<string, string>): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const file = files.get(new URL(req.url ?? "/", "http://x").pathname);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/x-gzip", "content-length": statSync(file).size });
    if (req.method === "HEAD") return void res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Reads a whole HTTP body and returns its length. */
export async function drain(res: Response): Promise<number> {
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
  return n;
}

export function rate(bytes: number, ms: number): string {
  return `${(bytes / MB / (ms / 1000)).toFixed(1)} MB/s`;
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

export function have(command: string): boolean {
  try {
    execFileSync("bash", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Prints a table of rows (first row is the header). */
export function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const [n, r] of rows.entries()) {
    console.log("  " + r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    if (n === 0) console.log("  " + widths.map((w) => "-".repeat(w)).join("  "));
  }
}

/** Runs `fn` against the benchmark worker (bench/worker) under its own wrangler dev and bucket (`env`: wrangler's environment). */
export async function withBenchWorker<T>(fn: (url: string, pgid: number) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { REPO, startWranglerDev } = await import("../test/fixtures/wrangler-dev.ts");
  const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  const dev = await startWranglerDev({ vars: {}, persistTo: state, config: join(REPO, "bench", "worker", "wrangler.toml"), env });
  try {
    return await fn(dev.url, dev.process.pid!);
  } finally {
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

export const RUNS = Number(process.env.BENCH_RUNS ?? 3);

export function med(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Downloads a URL, timing the first byte and the whole body. */
export async function timedDownload(url: string): Promise<{ ttfb: number; total: number; bytes: number }> {
  const start = performance.now();
  const res = await fetch(url);
  const reader = res.body!.getReader();
  let bytes = 0;
  let ttfb = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (bytes === 0) ttfb = performance.now() - start;
    bytes += value.byteLength;
  }
  return { ttfb, total: performance.now() - start, bytes };
}

/** One GET as a client sees it: its status, and how far its body got before it ended or broke. */
export interface Attempt {
  status: number;
  ttfb: number;
  total: number;
  bytes: number;
  /** Why the body (or the request) broke; absent when the body ended cleanly. */
  broke?: string;
}

/** Downloads a URL like {@link timedDownload}, but a broken transfer is a result, not an exception. */
export async function attemptDownload(url: string): Promise<Attempt> {
  const start = performance.now();
  let status = 0;
  let bytes = 0;
  let ttfb = 0;
  try {
    const res = await fetch(url);
    status = res.status;
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (bytes === 0) ttfb = performance.now() - start;
      bytes += value.byteLength;
    }
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return { status, ttfb, total: performance.now() - start, bytes, broke: `${String(err)}${cause}` };
  }
  return { status, ttfb, total: performance.now() - start, bytes };
}

export function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

/** Waits until a URL is served as a hit (a HEAD on a stored copy has no X-Cache-Miss), i.e. committed; returns the ms waited. */
export async function untilHit(url: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    const res = await fetch(url, { method: "HEAD" });
    if (res.status === 200 && !res.headers.has("x-cache-miss")) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last warnings and errors a worker logged: what to show when a benchmark's transfer broke. */
export function lastWarnings(output: string, count = 5): string {
  return output
    .split("\n")
    .filter((l) => /"level":"(warn|error)"/.test(l))
    .slice(-count)
    .join("\n");
}
