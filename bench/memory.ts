/**
 * memory: what a cold fill costs the worker alone (the method of docs/benchmarks.md). The bucket runs outside
 * workerd (STORAGE=s3 against @20minutes/s3rver in this Node process), every isolate's V8 heap is
 * capped at the Workers isolate limit, each figure comes from a fresh `wrangler dev`, and the
 * reference is a worker that streams the same bytes from the same upstream straight through.
 * Reported: peak RSS of the workerd processes above idle, for a 300 MB and a 1 GiB fill.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { s3StorageVars, startS3Server } from "../test/fixtures/s3-server.ts";
import { REPO, startWranglerDev, type WranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { artifact1GiB, artifact300MB, type BenchTarball } from "./data.ts";
import { drain, lastWarnings, mb, table } from "./lib.ts";
import { sampleRss } from "./rss.ts";

const ISOLATE_CAP = { MINIFLARE_WORKERD_V8_FLAGS: "--max-old-space-size=128" };

async function withDev<T>(vars: Record<string, string>, config: string | undefined, fn: (dev: WranglerDev) => Promise<T>): Promise<T> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  const dev = await startWranglerDev({ vars, persistTo: state, env: ISOLATE_CAP, ...(config ? { config } : {}) });
  try {
    return await fn(dev);
  } finally {
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

/** Peak workerd RSS growth while `url` is downloaded (and, for pkgedge, until it is committed). */
async function growth(
  dev: WranglerDev,
  url: string,
  size: number,
  committed?: () => Promise<void>,
): Promise<{ growth: number; ms: number }> {
  const rss = sampleRss(dev.process.pid!);
  const start = performance.now();
  const bytes = await drain(await fetch(url)).catch((err) => {
    // A broken fill is a finding, not noise: show what the worker said about it.
    console.log(lastWarnings(dev.output()));
    throw err;
  });
  if (bytes !== size) throw new Error(`${url} delivered ${bytes} of ${size} bytes`);
  await committed?.();
  const ms = performance.now() - start;
  const { idle, peak } = rss.stop();
  return { growth: peak - idle, ms };
}

/** Peak workerd RSS growth while a bench worker stage runs to its answer. */
async function growthOf(dev: WranglerDev, url: string): Promise<{ growth: number; ms: number; answer: string }> {
  const rss = sampleRss(dev.process.pid!);
  const start = performance.now();
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  const answer = await res.text();
  const ms = performance.now() - start;
  const { idle, peak } = rss.stop();
  return { growth: peak - idle, ms, answer };
}

export async function benchMemory(): Promise<void> {
  console.log("\n## memory: peak workerd RSS above idle during a cold fill (bucket outside workerd, V8 heap capped at 128 MB)");
  const sizes: BenchTarball[] = [artifact300MB(), artifact1GiB()];
  const files = new Map(sizes.map((t) => [`/artifact/${t.treeHash}`, t.file]));
  const fixture = await startFixtureServer({ files });
  const s3dir = mkdtempSync(join(tmpdir(), "pkgedge-s3-"));
  const s3 = await startS3Server(s3dir);
  const rows = [["what", "peak RSS growth", "time"]];
  try {
    for (const t of sizes) {
      const path = `/artifact/${t.treeHash}`;
      const upstream = fixture.configure(`memory-${t.treeHash.slice(0, 8)}`, {});
      const vars = { UPSTREAM_SERVERS: upstream, ...s3StorageVars(s3.info) };
      const pk = await withDev(vars, undefined, (dev) =>
        growth(dev, dev.url + path, t.size, async () => {
          for (;;) {
            const res = await fetch(dev.url + path, { method: "HEAD" });
            if (res.status === 200 && !res.headers.has("x-cache-miss")) return;
            await new Promise((r) => setTimeout(r, 100));
          }
        }),
      );
      rows.push([`pkgedge cold fill, ${mb(t.size)} (until committed)`, mb(pk.growth), `${pk.ms.toFixed(0)} ms`]);
      const bench = join(REPO, "bench", "worker", "wrangler.toml");
      const pass = await withDev({}, bench, (dev) => growth(dev, `${dev.url}/pass?url=${encodeURIComponent(upstream + path)}`, t.size));
      rows.push([`  a worker streaming the same bytes straight through`, mb(pass.growth), `${pass.ms.toFixed(0)} ms`]);
      const js = await withDev({}, bench, (dev) => growth(dev, `${dev.url}/pass-js?url=${encodeURIComponent(upstream + path)}`, t.size));
      rows.push([`  the same through a JS stage copying each chunk`, mb(js.growth), `${js.ms.toFixed(0)} ms`]);
      const verifier = await withDev({}, bench, (dev) =>
        growthOf(dev, `${dev.url}/verify?form=push&url=${encodeURIComponent(upstream + path)}`),
      );
      const { skip } = JSON.parse(verifier.answer) as { skip: string };
      if (skip !== t.treeHash) throw new Error(`the verifier computed ${skip}, git says ${t.treeHash}`);
      rows.push([`  pkgedge's verifier alone, fed as a fill feeds it`, mb(verifier.growth), `${verifier.ms.toFixed(0)} ms`]);
      // Where a fill's growth comes from: the stages alone, and a candidate gunzip beside pkgedge's.
      for (const [query, what] of [
        ["/read", "  the upstream body read in JS into one reused buffer, dropped"],
        ["/inflate?feed=pipe&sink=tar", "  gunzip (workerd's) fed natively, read by the tar reader"],
        ["/inflate?feed=js&sink=tar", "  gunzip (workerd's) fed from JS as the verifier feeds it, read by the tar reader"],
        ["/inflate?feed=pako&sink=tar", "  candidate: gunzip in the isolate (pako, reused buffers), read by the tar reader"],
      ] as const) {
        const stage = await withDev({}, bench, (dev) =>
          growthOf(dev, `${dev.url}${query}${query.includes("?") ? "&" : "?"}url=${encodeURIComponent(upstream + path)}`),
        );
        rows.push([what, mb(stage.growth), `${stage.ms.toFixed(0)} ms`]);
      }
    }
    table(rows);
    console.log("  (target: the 1 GiB fill under 64 MB, and within 16 MB of the 300 MB one; local figures: Cloudflare");
    console.log("  runs the bucket as a separate service and counts the isolate's memory, not workerd's RSS)");
  } finally {
    await s3.close();
    await fixture.close();
    rmSync(s3dir, { recursive: true, force: true });
  }
}
