/**
 * memory: what a cold fill costs the worker alone (the method of docs/benchmarks.md). The bucket runs outside
 * workerd (STORAGE=s3 against @20minutes/s3rver in this Node process), every isolate's V8 heap is
 * capped at the Workers isolate limit, each figure comes from a fresh `wrangler dev`, and the
 * reference is a worker that streams the same bytes from the same upstream straight through.
 * Reported: peak RSS of the workerd processes above idle, and the isolate's own heap (bench/heap.ts),
 * for a 300 MB and a 1 GiB fill, both at once, and the stages of a fill alone.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { s3StorageVars, startS3Server } from "../test/fixtures/s3-server.ts";
import { freePort, REPO, startWranglerDev, type WranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { artifact1GiB, artifact300MB, type BenchTarball } from "./data.ts";
import { drain, lastWarnings, mb, table, untilHit } from "./lib.ts";
import { sampleRss } from "./rss.ts";
import { sampleHeap } from "./heap.ts";

const ISOLATE_CAP = { MINIFLARE_WORKERD_V8_FLAGS: "--max-old-space-size=128" };

interface Dev {
  dev: WranglerDev;
  inspectorPort: number;
}

async function withDev<T>(vars: Record<string, string>, config: string | undefined, fn: (d: Dev) => Promise<T>): Promise<T> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  const inspectorPort = await freePort();
  const dev = await startWranglerDev({ vars, persistTo: state, env: ISOLATE_CAP, inspectorPort, ...(config ? { config } : {}) });
  try {
    return await fn({ dev, inspectorPort });
  } finally {
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

interface Measured {
  /** Peak workerd RSS above idle. */
  growth: number;
  /** Peak of the isolate's used heap + backing stores above idle. */
  heap: number;
  ms: number;
}

/**
 * RSS of the workerd processes and the isolate's own heap, sampled while `work` runs. An inspector
 * session sampling the heap adds to RSS itself (a 1 GiB fill read 140 MB without one, 166–180 MB
 * with one), so `heap: false` leaves it out for a figure of RSS alone.
 */
async function measure<T>(
  { dev, inspectorPort }: Dev,
  work: () => Promise<T>,
  { heap: withHeap = true } = {},
): Promise<Measured & { result: T }> {
  const rss = sampleRss(dev.process.pid!);
  const heap = withHeap ? await sampleHeap(inspectorPort) : null;
  const start = performance.now();
  const result = await work().catch((err) => {
    // A broken fill is a finding, not noise: show what the worker (or the runtime) said about it.
    console.log(lastWarnings(dev.output()) || dev.output().split("\n").slice(-15).join("\n"));
    throw err;
  });
  const ms = performance.now() - start;
  const { idle, peak } = rss.stop();
  const h = await heap?.stop();
  return { growth: peak - idle, heap: h ? h.peak - h.idle : Number.NaN, ms, result };
}

/** An S3 server of its own with an empty bucket, removed when closed. */
async function emptyBucket(): Promise<{ info: Parameters<typeof s3StorageVars>[0]; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "pkgedge-s3-"));
  const s3 = await startS3Server(dir);
  return {
    info: s3.info,
    async close() {
      await s3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Downloads `url` whole and checks its size. */
async function download(url: string, size: number): Promise<void> {
  const bytes = await drain(await fetch(url));
  if (bytes !== size) throw new Error(`${url} delivered ${bytes} of ${size} bytes`);
}

/** A bench worker stage run to its answer. */
async function stage(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.text();
}

const row = (what: string, m: Measured) => [what, mb(m.growth), Number.isNaN(m.heap) ? "" : mb(m.heap), `${m.ms.toFixed(0)} ms`];

export async function benchMemory(): Promise<void> {
  console.log("\n## memory: a cold fill's peak above idle (bucket outside workerd, V8 heap capped at 128 MB)");
  console.log("   RSS: the workerd processes; isolate: its V8 heap in use + ArrayBuffer backing stores (inspector)");
  const sizes: BenchTarball[] = [artifact300MB(), artifact1GiB()];
  const files = new Map(sizes.map((t) => [`/artifact/${t.treeHash}`, t.file]));
  const fixture = await startFixtureServer({ files });
  const upstream = fixture.configure("memory", {});
  const bench = join(REPO, "bench", "worker", "wrangler.toml");
  const rows = [["what", "RSS", "isolate", "time"]];
  try {
    for (const t of sizes) {
      const path = `/artifact/${t.treeHash}`;
      const source = encodeURIComponent(upstream + path);
      // Twice, into an empty bucket each time: RSS alone, then the isolate's heap.
      for (const heap of [false, true]) {
        const s3 = await emptyBucket();
        const pk = await withDev({ UPSTREAM_SERVERS: upstream, ...s3StorageVars(s3.info) }, undefined, (d) =>
          measure(
            d,
            async () => {
              await download(d.dev.url + path, t.size);
              await untilHit(d.dev.url + path);
            },
            { heap },
          ),
        );
        await s3.close();
        rows.push(row(`pkgedge cold fill, ${mb(t.size)} (until committed)${heap ? ", isolate sampled" : ""}`, pk));
      }
      const pass = await withDev({}, bench, (d) => measure(d, () => download(`${d.dev.url}/pass?url=${source}`, t.size)));
      rows.push(row("  a worker streaming the same bytes straight through", pass));
      const js = await withDev({}, bench, (d) => measure(d, () => download(`${d.dev.url}/pass-js?url=${source}`, t.size)));
      rows.push(row("  the same through a JS stage copying each chunk", js));
      const verifier = await withDev({}, bench, (d) => measure(d, () => stage(`${d.dev.url}/verify?form=push&url=${source}`)));
      const { skip } = JSON.parse(verifier.result) as { skip: string };
      if (skip !== t.treeHash) throw new Error(`the verifier computed ${skip}, git says ${t.treeHash}`);
      rows.push(row("  pkgedge's verifier alone, fed as a fill feeds it", verifier));
      // Where a fill's growth comes from: the stages alone, and a candidate gunzip beside pkgedge's.
      for (const [query, what] of [
        ["/read?", "  the upstream body read in JS into one reused buffer, dropped"],
        ["/inflate?feed=pipe&sink=tar&", "  gunzip (workerd's) fed natively, read by the tar reader"],
        ["/inflate?feed=js&sink=tar&", "  gunzip (workerd's) fed from JS as the verifier feeds it, read by the tar reader"],
        ["/inflate?feed=pako&sink=tar&", "  candidate: gunzip in the isolate (pako, reused buffers), read by the tar reader"],
      ] as const) {
        rows.push(row(what, await withDev({}, bench, (d) => measure(d, () => stage(`${d.dev.url}${query}url=${source}`)))));
      }
    }
    // Durable Objects of one class may share an isolate: two large fills at once in one (into an
    // empty bucket: the rows above stored both objects in the first).
    const empty = await emptyBucket();
    const both = await withDev({ UPSTREAM_SERVERS: upstream, ...s3StorageVars(empty.info) }, undefined, (d) =>
      measure(d, () =>
        Promise.all(
          sizes.map(async (t) => {
            await download(`${d.dev.url}/artifact/${t.treeHash}`, t.size);
            await untilHit(`${d.dev.url}/artifact/${t.treeHash}`);
          }),
        ),
      ),
    );
    await empty.close();
    rows.push(row(`pkgedge, both fills at once in one isolate (${sizes.map((t) => mb(t.size)).join(" + ")})`, both));
    table(rows);
    console.log("  (target: the 1 GiB fill under 64 MB, and within 16 MB of the 300 MB one; Cloudflare runs the bucket");
    console.log("  as a separate service and counts the isolate's memory, not workerd's RSS)");
  } finally {
    await fixture.close();
  }
}
