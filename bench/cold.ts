/**
 * Cold misses, each beside its references in the same run:
 *   (c) a cold 300 MB artifact through pkgedge vs a direct download from the same upstream and vs
 *       nginx proxy_cache in front of it (the design pkgedge replaces); also the local bucket's own
 *       write speed, and the same from an upstream at 25 MB/s (an internet download)
 *   (d) memory has its own section, with the bucket outside workerd (bench/memory.ts)
 *   (e) 50 concurrent cold requests for one resource: upstream GETs and time until all complete
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFixtureServer, type FixtureServer } from "../test/fixtures/upstream-server.ts";
import { startWranglerDev, type WranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { createUpstream } from "../test/shared/control.ts";
import { artifact300MB, artifact32MB, type BenchTarball } from "./data.ts";
import { lastWarnings, mb, med, MB, median, rate, ratio, RUNS, table, timedDownload, untilHit, withBenchWorker } from "./lib.ts";
import { nginxAvailable, startNginx } from "./nginx.ts";

const INTERNET_RATE = 25 * MB;

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh pkgedge (empty bucket) filling from `upstream` (`env`: wrangler's environment; `vars`: pkgedge's other variables). */
export function withPkgedge<T>(
  upstream: string,
  fn: (dev: WranglerDev) => Promise<T>,
  env?: Record<string, string>,
  vars: Record<string, string> = {},
): Promise<T> {
  return withTemp(async (state) => {
    const dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: upstream, ...vars }, persistTo: state, env });
    try {
      return await fn(dev);
    } finally {
      await dev.stop();
    }
  });
}

interface ColdRuns {
  ttfb: number[];
  total: number[];
  committed: number[];
}

export async function coldThroughPkgedge(
  upstream: string,
  path: string,
  size: number,
  count = RUNS,
  env?: Record<string, string>,
): Promise<ColdRuns> {
  const runs: ColdRuns = { ttfb: [], total: [], committed: [] };
  for (let i = 0; i < count; i++) {
    await withPkgedge(
      upstream,
      async (dev) => {
        // The runtime warmed up first (a miss on a resource no upstream has starts the worker and a
        // coordinator): "cold" is the resource, not the process.
        await (await fetch(`${dev.url}/artifact/${"0".repeat(40)}`)).arrayBuffer();
        const start = performance.now();
        const d = await timedDownload(dev.url + path).catch((err) => {
          // A broken cold miss is a finding, not noise: show what pkgedge said about it.
          console.log(lastWarnings(dev.output()) || "  (pkgedge logged no warning)");
          throw new Error(`pkgedge's cold miss broke: ${err}`, { cause: err });
        });
        if (d.bytes !== size) throw new Error(`cold miss delivered ${d.bytes} of ${size} bytes`);
        await untilHit(dev.url + path);
        const committed = performance.now() - start;
        runs.ttfb.push(d.ttfb);
        runs.total.push(d.total);
        runs.committed.push(committed);
      },
      env,
    );
  }
  return runs;
}

async function coldThroughNginx(
  upstream: string,
  path: string,
  expectedBytes: number,
): Promise<{ ttfb: number[]; total: number[] } | null> {
  if (!nginxAvailable()) return null;
  const runs = { ttfb: [] as number[], total: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    await withTemp(async (dir) => {
      const nginx = await startNginx(dir, { proxyTo: upstream });
      try {
        const d = await timedDownload(nginx.url + path);
        if (d.bytes !== expectedBytes)
          throw new Error(`nginx proxy_cache delivered ${d.bytes} of ${expectedBytes} bytes: see ${dir}/error.log`);
        runs.ttfb.push(d.ttfb);
        runs.total.push(d.total);
      } finally {
        await nginx.stop();
      }
    });
  }
  return runs;
}

async function coldTable(t: BenchTarball, path: string, upstream: string, withFloor: boolean): Promise<ColdRuns> {
  const direct = { ttfb: [] as number[], total: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const d = await timedDownload(upstream + path).catch((err) => {
      throw new Error(`the direct download from the upstream broke (not pkgedge): ${err}`, { cause: err });
    });
    direct.ttfb.push(d.ttfb);
    direct.total.push(d.total);
  }
  const cold = await coldThroughPkgedge(upstream, path, t.size);
  const nginx = await coldThroughNginx(upstream, path, t.size);
  const base = med(direct.total);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const rows = [
    ["what", "median first byte", "median total", "rate", "vs direct"],
    ["direct from the upstream", ms(med(direct.ttfb)), ms(base), rate(t.size, base), "1.00×"],
    [
      "pkgedge cold miss (streamed + verified)",
      ms(med(cold.ttfb)),
      ms(med(cold.total)),
      rate(t.size, med(cold.total)),
      ratio(med(cold.total), base),
    ],
    ["  … until committed to the bucket", "", ms(med(cold.committed)), rate(t.size, med(cold.committed)), ratio(med(cold.committed), base)],
  ];
  if (nginx)
    rows.push([
      "nginx proxy_cache cold miss",
      ms(med(nginx.ttfb)),
      ms(med(nginx.total)),
      rate(t.size, med(nginx.total)),
      ratio(med(nginx.total), base),
    ]);
  const firstByteGap = () =>
    console.log(
      `  first byte: pkgedge cold ${ms(med(cold.ttfb))} vs direct ${ms(med(direct.ttfb))}, ${ms(med(cold.ttfb) - med(direct.ttfb))} later (target: within 20 ms)`,
    );
  if (withFloor) {
    const floor = await withBenchWorker(async (url) => {
      const put = (part: number) => async () =>
        (await fetch(`${url}/r2-put?part=${part}&url=${encodeURIComponent(upstream + path)}`)).json();
      return { single: await median(RUNS, put(0)), multipart: await median(RUNS, put(16 * 1024 * 1024)) };
    });
    rows.push(["local bucket write alone: one put", "", ms(floor.single), rate(t.size, floor.single), ratio(floor.single, base)]);
    rows.push([
      "local bucket write alone: multipart, 16 MiB parts",
      "",
      ms(floor.multipart),
      rate(t.size, floor.multipart),
      ratio(floor.multipart, base),
    ]);
    table(rows);
    console.log(
      `  pkgedge cold miss / multipart write alone: ${ratio(med(cold.committed), floor.multipart)} (locally the simulated bucket, the verifier`,
    );
    console.log("  and the stream plumbing share one workerd thread; on Cloudflare the bucket is a separate service)");
    if (nginx) console.log(`  pkgedge cold miss / nginx proxy_cache cold miss: ${ratio(med(cold.total), med(nginx.total))}`);
    firstByteGap();
  } else {
    table(rows);
    if (nginx) console.log(`  pkgedge cold miss / nginx proxy_cache cold miss: ${ratio(med(cold.total), med(nginx.total))}`);
    firstByteGap();
  }
  return cold;
}

/** `npm run bench -- crowd`: (e) alone. */
export async function benchCrowd(): Promise<void> {
  const mid = artifact32MB();
  const path = `/artifact/${mid.treeHash}`;
  const fixture = await startFixtureServer({ files: new Map([[path, mid.file]]) });
  try {
    await fiftyConcurrent(fixture, mid, path);
  } finally {
    await fixture.close();
  }
}

async function fiftyConcurrent(fixture: FixtureServer, t: BenchTarball, path: string): Promise<void> {
  console.log(`\n## (e) 50 concurrent cold requests for one ${mb(t.size)} artifact`);
  const rows = [["what", "upstream GETs", "all 50 complete", "vs one cold request"]];
  const oneUp = await createUpstream(fixture.url, {});
  const single = await withPkgedge(oneUp.url, async (dev) => timedDownload(dev.url + path));
  // A broken or refused single request would make a short reference, and every ratio against it wrong.
  if (single.bytes !== t.size) throw new Error(`the single cold request got ${single.bytes} of ${t.size} bytes`);
  const one = single.total;
  rows.push([
    "pkgedge, one cold request",
    String((await oneUp.log()).filter((r) => r.method === "GET").length),
    `${one.toFixed(0)} ms`,
    "1.00×",
  ]);
  const up = await createUpstream(fixture.url, {});
  const all = await withPkgedge(up.url, async (dev) => {
    const start = performance.now();
    const results = await Promise.all(Array.from({ length: 50 }, () => timedDownload(dev.url + path)));
    for (const r of results) if (r.bytes !== t.size) throw new Error(`a requester got ${r.bytes} of ${t.size} bytes`);
    return performance.now() - start;
  });
  const pkgedgeGets = (await up.log()).filter((r) => r.method === "GET").length;
  rows.push(["pkgedge, 50 at once", String(pkgedgeGets), `${all.toFixed(0)} ms`, ratio(all, one)]);
  if (nginxAvailable()) {
    const nUp = await createUpstream(fixture.url, {});
    const nginxAll = await withTemp(async (dir) => {
      const nginx = await startNginx(dir, { proxyTo: nUp.url });
      try {
        const start = performance.now();
        const results = await Promise.all(Array.from({ length: 50 }, () => timedDownload(nginx.url + path)));
        for (const r of results)
          if (r.bytes !== t.size) throw new Error(`nginx delivered ${r.bytes} of ${t.size} bytes: see ${dir}/error.log`);
        return performance.now() - start;
      } finally {
        await nginx.stop();
      }
    });
    rows.push([
      "nginx proxy_cache (proxy_cache_lock on), 50 at once",
      String((await nUp.log()).filter((r) => r.method === "GET").length),
      `${nginxAll.toFixed(0)} ms`,
      ratio(nginxAll, one),
    ]);
    table(rows);
    console.log(`  pkgedge / nginx, 50 at once: ${ratio(all, nginxAll)} the time (target: at most 2×, with 1 upstream GET)`);
    return;
  }
  table(rows);
}

export async function benchCold(): Promise<void> {
  const t = artifact300MB();
  const mid = artifact32MB();
  const files = new Map([
    [`/artifact/${t.treeHash}`, t.file],
    [`/artifact/${mid.treeHash}`, mid.file],
  ]);
  const fixture = await startFixtureServer({ files });
  try {
    console.log(`\n## (c) a cold ${mb(t.size)} artifact`);
    console.log("\n  from a loopback upstream (as fast as the machine goes):");
    await coldTable(t, `/artifact/${t.treeHash}`, fixture.configure("loopback", {}), true);
    console.log(`\n  a ${mb(mid.size)} artifact from an upstream at ${INTERNET_RATE / MB} MB/s (a fast internet download):`);
    await coldTable(mid, `/artifact/${mid.treeHash}`, fixture.configure("internet", { rate: INTERNET_RATE }), false);

    await fiftyConcurrent(fixture, mid, `/artifact/${mid.treeHash}`);
  } finally {
    await fixture.close();
  }
}
