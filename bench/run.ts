/**
 * `npm run bench [-- SECTION…]`: pkgedge measured beside a reference in the same run, on the same
 * machine and data, reported as ratios (absolute numbers on these machines are noisy).
 *
 *   verify  the tree-hash verifier inside workerd vs `gzip -dc FILE | sha1sum`, on a ≥200 MB tarball
 *   cold    a cold miss through pkgedge (wrangler dev, local R2) vs a direct download from the upstream,
 *           and vs the local bucket's own write speed for the same bytes (the floor for a commit)
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { REPO, startWranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { benchTarball, type BenchTarball } from "./data.ts";
import { drain, MB, median, rate, ratio, shellMedianMs, staticServer, table } from "./lib.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const sections = process.argv.slice(2);
const wanted = (name: string) => sections.length === 0 || sections.includes(name);

async function benchVerify(): Promise<void> {
  console.log("\n## verify: tree-hash verification throughput inside workerd");
  const t = benchTarball("artifact-400mib", 400);
  console.log(`  tarball: ${(t.size / MB).toFixed(0)} MB gzipped, ${(t.payload / MB).toFixed(0)} MB of content, ${t.entries} entries`);

  const reference = shellMedianMs(RUNS, `gzip -dc '${t.file}' | sha1sum > /dev/null`);

  const files = await staticServer(new Map([["/artifact.tar.gz", t.file]]));
  try {
    await benchWorker(async (worker) => {
      const url = (form: string) => `${worker}/verify?form=${form}&url=${encodeURIComponent(`${files.url}/artifact.tar.gz`)}`;
      const rows = [["what", "median time", "rate (gzipped bytes)", "vs gzip -dc | sha1sum"], ["gzip -dc FILE | sha1sum", `${reference.toFixed(0)} ms`, rate(t.size, reference), "1.00×"]];
      for (const [form, label] of [["push", "pkgedge verifier, as a fill feeds it (workerd)"], ["piped", "pkgedge verifier, stream piped in (workerd)"]] as const) {
        const first = (await (await fetch(url(form))).json()) as { skip: string };
        if (first.skip !== t.treeHash) throw new Error(`verifier (${form}) computed ${first.skip}, git says ${t.treeHash}`);
        const ms = await median(RUNS, async () => (await fetch(url(form))).json());
        rows.push([label, `${ms.toFixed(0)} ms`, rate(t.size, ms), ratio(reference, ms)]);
      }
      const download = await median(RUNS, async () => drain(await fetch(`${files.url}/artifact.tar.gz`)));
      rows.push(["loopback download alone (Node fetch)", `${download.toFixed(0)} ms`, rate(t.size, download), ratio(reference, download)]);
      table(rows);
      console.log(`  both forms computed the tree hash git computes: ${t.treeHash}`);
    });
  } finally {
    await files.close();
  }
}

async function benchColdMiss(): Promise<void> {
  console.log("\n## cold: a cold miss through pkgedge vs a direct download from the same upstream");
  const t = benchTarball("artifact-400mib", 400);
  const path = `/artifact/${t.treeHash}`;
  const fixture = await startFixtureServer({ files: new Map([[path, t.file]]) });
  try {
    await coldMissAgainst(t, path, fixture.configure("loopback", {}), "loopback upstream (as fast as the machine goes)", true);
    await coldMissAgainst(t, path, fixture.configure("internet", { rate: INTERNET_RATE }), `upstream at ${INTERNET_RATE / MB} MB/s (a fast internet download)`);
  } finally {
    await fixture.close();
  }
}

/** A fast download from a storage server across the internet. */
const INTERNET_RATE = 25 * MB;

async function coldMissAgainst(t: BenchTarball, path: string, upstream: string, label: string, withFloor = false): Promise<void> {
  console.log(`\n  ${label}:`);
  const rows: string[][] = [["what", "median time to first byte", "median total", "rate", "vs direct"]];
  {
    const direct = { ttfb: [] as number[], total: [] as number[] };
    const cold = { ttfb: [] as number[], total: [] as number[], committed: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const d = await timedDownload(`${upstream}${path}`);
      direct.ttfb.push(d.ttfb);
      direct.total.push(d.total);
      // Each cold run gets a fresh bucket.
      const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
      const dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: upstream }, persistTo: state });
      try {
        const start = performance.now();
        const c = await timedDownload(`${dev.url}${path}`);
        if (c.bytes !== t.size) throw new Error(`cold miss delivered ${c.bytes} of ${t.size} bytes`);
        cold.ttfb.push(c.ttfb);
        cold.total.push(c.total);
        // The object is committed once a GET is a hit.
        for (;;) {
          const res = await fetch(`${dev.url}${path}`, { method: "HEAD" });
          if (!res.headers.has("x-cache-miss")) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        cold.committed.push(performance.now() - start);
      } finally {
        await dev.stop();
        rmSync(state, { recursive: true, force: true });
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    rows.push(["direct from the upstream", `${med(direct.ttfb).toFixed(0)} ms`, `${med(direct.total).toFixed(0)} ms`, rate(t.size, med(direct.total)), "1.00×"]);
    rows.push(["pkgedge cold miss (streamed + verified)", `${med(cold.ttfb).toFixed(0)} ms`, `${med(cold.total).toFixed(0)} ms`, rate(t.size, med(cold.total)), ratio(med(cold.total), med(direct.total))]);
    rows.push(["  … until committed to the bucket", "", `${med(cold.committed).toFixed(0)} ms`, rate(t.size, med(cold.committed)), ratio(med(cold.committed), med(direct.total))]);
    if (!withFloor) return table(rows);
    const floor = await bucketWriteFloor(`${upstream}${path}`);
    rows.push(["local bucket write alone: one put", "", `${floor.single.toFixed(0)} ms`, rate(t.size, floor.single), ratio(floor.single, med(direct.total))]);
    rows.push(["local bucket write alone: multipart, 16 MiB parts", "", `${floor.multipart.toFixed(0)} ms`, rate(t.size, floor.multipart), ratio(floor.multipart, med(direct.total))]);
    table(rows);
    console.log(`  pkgedge cold miss / multipart write alone: ${ratio(med(cold.committed), floor.multipart)} (a fill of this size is committed with multipart;`);
    console.log("  locally the simulated bucket, the verifier and the stream plumbing share one workerd thread)");
  }
}

/** How long the local bucket alone takes to store the same bytes, through the benchmark worker. */
async function benchWorker<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  const dev = await startWranglerDev({ vars: {}, persistTo: state, config: join(REPO, "bench", "worker", "wrangler.toml") });
  try {
    return await fn(dev.url);
  } finally {
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

async function bucketWriteFloor(source: string): Promise<{ single: number; multipart: number }> {
  return benchWorker(async (url) => {
    const put = (part: number) => async () => (await fetch(`${url}/r2-put?part=${part}&url=${encodeURIComponent(source)}`)).json();
    return { single: await median(RUNS, put(0)), multipart: await median(RUNS, put(16 * 1024 * 1024)) };
  });
}

async function timedDownload(url: string): Promise<{ ttfb: number; total: number; bytes: number }> {
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

console.log(`pkgedge benchmarks (${RUNS} runs each, medians; same machine, same data, same run)`);
if (wanted("verify")) await benchVerify();
if (wanted("cold")) await benchColdMiss();

