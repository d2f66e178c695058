/**
 * `npm run bench -- cost`: the CPU time pkgedge spends per unit of work, for the cost model in
 * docs/operations.md. Read from /proc (bench/cpu.ts) for the processes of each `wrangler dev`: all
 * of them (wrangler's Node process, its proxy, workerd) and workerd alone, over many repetitions:
 *
 *   a warm hit        many small hits, beside the naive R2 worker (one `get`, `obj.body`) and a
 *                     worker answering from memory; and per MB, warm reads of the largest artifact
 *   a cold miss       per MB, two artifacts of known size, each a fresh pkgedge; beside the
 *                     benchmark worker passing the same bytes through (the runtime's floor),
 *                     writing them into its bucket alone (the local R2 simulator, inside workerd)
 *                     and verifying them alone (pkgedge's verifier)
 *   a refresh round   a cron round with nothing new upstream, and one that publishes a new snapshot
 *   a prefetched item what a new snapshot adds, filled by the prefetch queue with no client asking
 *                     (zstd variants on, as by default, and off), beside a client's cold miss of
 *                     the same small packages
 *
 * Each server's idle CPU (its per-second rate while nothing is asked of it, measured just before)
 * is taken off every figure but the small warm hits (whose seconds of load it would not move); it
 * is printed.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCatalogue, type Catalogue } from "../test/fixtures/catalogue.ts";
import { startFixtureServer, type FixtureServer } from "../test/fixtures/upstream-server.ts";
import type { WranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { withPkgedge } from "./cold.ts";
import { cpuDuring, cpuPerRequest, idleCpuPerSecond } from "./cpu.ts";
import { artifact32MB, package8MB, type BenchTarball } from "./data.ts";
import { drain, mb, MB, med, RUNS, table, untilHit, withBenchWorker } from "./lib.ts";

const HIT_REQUESTS = 2000;
const CONNECTIONS = 32;
/** Cold misses per artifact size (each a fresh pkgedge, so a few seconds of startup each). */
const COLD_RUNS = Number(process.env.BENCH_COST_COLD_RUNS ?? 5);
/** Warm reads of the largest cold artifact, per fresh pkgedge of the cold runs. */
const WARM_LARGE_READS = 3;
/** Cron rounds with nothing new upstream, per server. */
const QUIET_ROUNDS = 20;

type Cpu = { all: number; workerd: number };
const minus = (a: Cpu, b: Cpu, times = 1): Cpu => ({ all: a.all - b.all * times, workerd: a.workerd - b.workerd * times });
const over = (a: Cpu, n: number): Cpu => ({ all: a.all / n, workerd: a.workerd / n });
const medCpu = (xs: Cpu[]): Cpu => ({ all: med(xs.map((x) => x.all)), workerd: med(xs.map((x) => x.workerd)) });
const ms = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(2));

/** CPU spent while `work` runs, less what the server would have spent idle over the same wall time. */
async function netCpu(pgid: number, idle: Cpu, work: () => Promise<void>): Promise<Cpu & { seconds: number }> {
  const start = performance.now();
  const cpu = await cpuDuring(pgid, work);
  const seconds = (performance.now() - start) / 1000;
  return { ...minus(cpu, idle, seconds), seconds };
}

const pgidOf = (dev: WranglerDev) => dev.process.pid!;

async function get(url: string): Promise<number> {
  // No zstd in Accept-Encoding: a client that names it would have a variant made as well.
  const res = await fetch(url, { headers: { "accept-encoding": "gzip" } });
  const n = await drain(res);
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return n;
}

async function until(what: string, probe: () => Promise<boolean> | boolean, seconds = 180, everyMs = 100): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${seconds} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const logLines = (dev: WranglerDev, event: string) =>
  dev
    .output()
    .split("\n")
    .filter((l) => l.includes(`"event":"${event}"`)).length;

interface Row {
  what: string;
  n: string;
  cpu: Cpu;
}

/** What every part of the section shares: the fixture upstream and data, and what it found. */
interface Context {
  fixture: FixtureServer;
  manifest: Catalogue["manifest"];
  rows: Row[];
  idles: Cpu[];
  notes: string[];
}

const list = (path: string) => `${path}\n`;
const lists = (path: string) => ({ lists: { eager: list(path), conservative: list(path) } });

/** One cron round, as Cloudflare's trigger would run it. */
async function cronRound(dev: WranglerDev): Promise<void> {
  const res = await fetch(`${dev.url}/cdn-cgi/handler/scheduled`);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`the scheduled handler answered ${res.status}`);
}

/** Whether both flavors' lists name `snapshot`. */
async function published(dev: WranglerDev, snapshot: string): Promise<boolean> {
  const served = await Promise.all(["eager", "conservative"].map(async (f) => (await fetch(`${dev.url}/registries.${f}`)).text()));
  return served.every((l) => l === list(snapshot));
}

export async function benchCost(): Promise<void> {
  console.log("\n== cost: CPU milliseconds per unit of work, from /proc (user + system), wrangler dev on this machine");
  const work = mkdtempSync(join(tmpdir(), "pkgedge-bench-cost-"));
  const catalogue = buildCatalogue(join(work, "fixtures"));
  const cold: { name: string; t: BenchTarball }[] = [
    { name: "8 MB", t: package8MB() },
    { name: "34 MB", t: artifact32MB() },
  ];
  const files = new Map(catalogue.files);
  for (const { t } of cold) files.set(`/artifact/${t.treeHash}`, t.file);
  const fixture = await startFixtureServer({ files });
  const ctx: Context = { fixture, manifest: catalogue.manifest, rows: [], idles: [], notes: [] };
  try {
    await warmHits(ctx);
    await coldMisses(ctx, cold);
    await prefetchedItems(ctx, await refreshRounds(ctx));
  } finally {
    await fixture.close();
    rmSync(work, { recursive: true, force: true });
  }
  printRows(ctx);
}

/** Warm hits of the smallest package, many requests, beside workers that only read it from their bucket, or memory. */
async function warmHits({ fixture, manifest, rows }: Context): Promise<void> {
  const pkg = `/package/${manifest.example.uuid}/${Object.values(manifest.example.versions).at(-1)}`;
  await withPkgedge(fixture.configure("cost-hits", {}), async (dev) => {
    await get(dev.url + pkg);
    await untilHit(dev.url + pkg);
    await withBenchWorker(async (bench, benchPgid) => {
      const put = (await (
        await fetch(`${bench}/r2-put?part=0&url=${encodeURIComponent(fixture.configure("cost-naive", {}) + pkg)}`)
      ).json()) as {
        key: string;
      };
      const size = manifest.objects[pkg]!.size;
      const pk: Cpu[] = [];
      const naive: Cpu[] = [];
      const floor: Cpu[] = [];
      for (let run = 0; run < RUNS; run++) {
        pk.push(await cpuPerRequest(pgidOf(dev), dev.url + pkg, HIT_REQUESTS, CONNECTIONS));
        naive.push(await cpuPerRequest(benchPgid, `${bench}/naive-get?key=${put.key}`, HIT_REQUESTS, CONNECTIONS));
        floor.push(await cpuPerRequest(benchPgid, `${bench}/floor?size=${size}`, HIT_REQUESTS, CONNECTIONS));
      }
      const n = `${RUNS} × ${HIT_REQUESTS}`;
      rows.push({ what: `warm hit, ${size}-byte package (access log on, the default)`, n, cpu: medCpu(pk) });
      rows.push({ what: "  reference: naive R2 worker, same object (one get, obj.body, no log)", n, cpu: medCpu(naive) });
      rows.push({ what: "  reference: a worker answering the same number of bytes from memory", n, cpu: medCpu(floor) });
    });
  });
  await withPkgedge(
    fixture.configure("cost-hits-quiet", {}),
    async (dev) => {
      await get(dev.url + pkg);
      await untilHit(dev.url + pkg);
      const pk: Cpu[] = [];
      for (let run = 0; run < RUNS; run++) pk.push(await cpuPerRequest(pgidOf(dev), dev.url + pkg, HIT_REQUESTS, CONNECTIONS));
      rows.push({ what: "  the same with ACCESS_LOG=off", n: `${RUNS} × ${HIT_REQUESTS}`, cpu: medCpu(pk) });
    },
    undefined,
    { ACCESS_LOG: "off" },
  );
}

/**
 * Cold misses: each run a fresh pkgedge (an empty bucket), its fill path warmed by the cold miss
 * of a small artifact first ("cold" is the resource, not the process), then each size; then warm
 * reads of the largest. Beside them, the same bytes in the benchmark worker.
 */
async function coldMisses({ fixture, manifest, rows, idles, notes }: Context, cold: { name: string; t: BenchTarball }[]): Promise<void> {
  const warmLarge: Cpu[] = [];
  const whole = new Map<string, Cpu[]>(cold.map(({ name }) => [name, []]));
  const coldUpstream = fixture.configure("cost-cold", {});
  for (let run = 0; run < COLD_RUNS; run++) {
    await withPkgedge(coldUpstream, async (dev) => {
      await get(dev.url + manifest.bigArtifact);
      await untilHit(dev.url + manifest.bigArtifact);
      const idle = await idleCpuPerSecond(pgidOf(dev));
      idles.push(idle);
      for (const { name, t } of cold) {
        const path = `/artifact/${t.treeHash}`;
        const cpu = await netCpu(pgidOf(dev), idle, async () => {
          const n = await get(dev.url + path);
          if (n !== t.size) throw new Error(`cold miss delivered ${n} of ${t.size} bytes`);
          await untilHit(dev.url + path);
        });
        whole.get(name)!.push(cpu);
      }
      // Warm reads of the largest: what relaying stored bytes to a client costs per MB.
      const t = cold.at(-1)!.t;
      const path = `/artifact/${t.treeHash}`;
      for (let i = 0; i < WARM_LARGE_READS; i++)
        warmLarge.push(
          over(
            await netCpu(pgidOf(dev), idle, async () => {
              if ((await get(dev.url + path)) !== t.size) throw new Error("a warm read was short");
            }),
            t.size / MB,
          ),
        );
    });
  }
  rows.push({
    what: `warm hit, the ${cold.at(-1)!.name} artifact; per MB`,
    n: `${COLD_RUNS} × ${WARM_LARGE_READS}`,
    cpu: medCpu(warmLarge),
  });
  for (const { name, t } of cold)
    rows.push({
      what: `cold miss, ${name} artifact (${mb(t.size)}): streamed, verified, committed; per MB`,
      n: String(COLD_RUNS),
      cpu: over(medCpu(whole.get(name)!), t.size / MB),
    });
  // Two sizes give a line: a fixed part per miss and a part per MB.
  const [small, large] = cold.map(({ name, t }) => ({ cpu: medCpu(whole.get(name)!), mb: t.size / MB }));
  const slope = over(minus(large!.cpu, small!.cpu), large!.mb - small!.mb);
  rows.push({ what: "  so, per MB (the slope between the two sizes)", n: "", cpu: slope });
  rows.push({ what: "  and per miss whatever its size (the line at 0 MB)", n: "", cpu: minus(small!.cpu, slope, small!.mb) });
  const largest = { pass: 0, put: 0, verify: 0 };
  const perMb = over(large!.cpu, large!.mb).workerd;
  // The same bytes in the benchmark worker: passed through, written alone, verified alone (each route run once untimed first).
  await withBenchWorker(async (bench, benchPgid) => {
    const idle = await idleCpuPerSecond(benchPgid);
    for (const { name, t } of cold) {
      const from = encodeURIComponent(coldUpstream + `/artifact/${t.treeHash}`);
      for (const [kind, label, route] of [
        ["pass", "passed through by a worker (/pass: the runtime's floor)", `/pass?url=${from}`],
        ["put", "written to the local bucket alone (one put: the simulator, in workerd)", `/r2-put?part=0&url=${from}`],
        ["verify", "verified alone (pkgedge's verifier, fed as a fill feeds it)", `/verify?form=push&url=${from}`],
      ] as const) {
        await get(bench + route);
        const ref: Cpu[] = [];
        for (let run = 0; run < COLD_RUNS; run++)
          ref.push(over(await netCpu(benchPgid, idle, async () => void (await get(bench + route))), t.size / MB));
        rows.push({ what: `  reference, ${name}: the same bytes ${label}; per MB`, n: String(COLD_RUNS), cpu: medCpu(ref) });
        if (name === cold.at(-1)!.name) largest[kind] = medCpu(ref).workerd;
      }
    }
  });

  notes.push(
    `a cold ${cold.at(-1)!.name} miss in workerd, per MB: ${ms(perMb)} ms, of which the verifier alone ${ms(largest.verify)} ms ` +
      `(${((100 * largest.verify) / perMb).toFixed(0)} %) and the local bucket's write alone ${ms(largest.put)} ms ` +
      `(${((100 * largest.put) / perMb).toFixed(0)} %: on Cloudflare R2 is a separate service, and the fill runs in its coordinator, ` +
      "a Durable Object billed by duration rather than CPU ms)",
  );
}

/**
 * Refresh rounds: quiet ones, and ones that each publish a new snapshot (three advances a server);
 * then a client's cold misses of the packages the last snapshot adds. Returns what a publishing
 * round and such a cold miss cost.
 */
async function refreshRounds({ fixture, manifest, rows, idles }: Context): Promise<{ publishing: Cpu; clientMiss: Cpu }> {
  const quiet: Cpu[] = [];
  const advance: Cpu[] = [];
  const clientMiss: Cpu[] = [];
  const steps = [manifest.snapshots[1]!, manifest.snapshots[2]!, manifest.prefetch.next];
  for (let run = 0; run < RUNS; run++) {
    const name = `cost-refresh-${run}`;
    const upstream = fixture.configure(name, lists(manifest.snapshots[0]!));
    await withPkgedge(
      upstream,
      async (dev) => {
        await until("the first snapshot published", () => published(dev, manifest.snapshots[0]!));
        await cronRound(dev); // not measured: the first round after startup
        const idle = await idleCpuPerSecond(pgidOf(dev));
        idles.push(idle);
        const q = await netCpu(pgidOf(dev), idle, async () => {
          for (let i = 0; i < QUIET_ROUNDS; i++) await cronRound(dev);
        });
        quiet.push(over(q, QUIET_ROUNDS));
        for (const next of steps) {
          fixture.configure(name, lists(next));
          advance.push(
            await netCpu(pgidOf(dev), idle, async () => {
              await cronRound(dev);
              await until(`snapshot ${next} published`, () => published(dev, next));
            }),
          );
        }
        // What the prefetch section fills ahead of clients, asked for by a client instead (packages only).
        const pkgs = manifest.prefetch.packages;
        const c = await netCpu(pgidOf(dev), idle, async () => {
          for (const p of pkgs) await get(dev.url + p);
        });
        clientMiss.push(over(c, pkgs.length));
      },
      undefined,
      { PREFETCH: "off", BINARY_MIRRORS: "" },
    );
  }
  rows.push({ what: "cron round, nothing new upstream (both flavors)", n: `${RUNS} × ${QUIET_ROUNDS}`, cpu: medCpu(quiet) });
  rows.push({
    what: "cron round that publishes a new snapshot (a small test registry), until both flavors serve it",
    n: String(advance.length),
    cpu: medCpu(advance),
  });
  return { publishing: medCpu(advance), clientMiss: medCpu(clientMiss) };
}

/**
 * Prefetched items: what a new snapshot adds, filled by the queue, less the round that published
 * it; beside a client's cold miss of the same packages (`clientMiss`).
 */
async function prefetchedItems(
  { fixture, manifest, rows, idles }: Context,
  { publishing, clientMiss }: { publishing: Cpu; clientMiss: Cpu },
): Promise<void> {
  const items = manifest.prefetch.packages.length + Object.keys(manifest.prefetch.artifacts).length;
  for (const zstd of ["on", "off"] as const) {
    const per: Cpu[] = [];
    for (let run = 0; run < RUNS; run++) {
      const name = `cost-prefetch-${zstd}-${run}`;
      const upstream = fixture.configure(name, lists(manifest.prefetch.base));
      await withPkgedge(
        upstream,
        async (dev) => {
          await until("the base snapshot published", () => published(dev, manifest.prefetch.base));
          await until("the first plan made", () => logLines(dev, "prefetch_planned") >= 1);
          const idle = await idleCpuPerSecond(pgidOf(dev));
          idles.push(idle);
          fixture.configure(name, lists(manifest.prefetch.next));
          const variants = () => logLines(dev, "zstd_made") + logLines(dev, "zstd_skipped") + logLines(dev, "zstd_failed");
          const c = await netCpu(pgidOf(dev), idle, async () => {
            await cronRound(dev);
            await until("the new snapshot's items filled", () => logLines(dev, "prefetch_filled") >= items);
            if (zstd === "on") await until("their zstd variants made", () => variants() >= items, 60);
          });
          const meta = (await (await fetch(`${dev.url}/meta`)).json()) as {
            prefetch: { snapshots: { registry: string; done: number; failed: number; total: number }[] };
          };
          const report = meta.prefetch.snapshots.find((s) => s.registry === manifest.prefetch.next);
          if (report?.done !== items || report.failed !== 0)
            throw new Error(`prefetch: expected ${items} items done, /meta says ${JSON.stringify(report)}`);
          // Less the refresh round that published the snapshot (measured above without prefetch).
          per.push(over(minus(c, publishing), items));
        },
        undefined,
        { PREFETCH: "all", PREFETCH_RETRY_DELAY_SECONDS: "1", BINARY_MIRRORS: "", ZSTD: zstd },
      );
    }
    rows.push({
      what: `prefetched item (${items} a snapshot: small packages and artifacts), zstd variants ${zstd}, less the publishing round`,
      n: `${RUNS} × ${items}`,
      cpu: medCpu(per),
    });
  }
  rows.push({
    what: "  reference: a client's cold miss of each of the same packages (verified first), PREFETCH=off",
    n: `${RUNS} × ${manifest.prefetch.packages.length}`,
    cpu: clientMiss,
  });
}

function printRows({ rows, idles, notes }: Context): void {
  table([["CPU ms (user + system)", "N", "workerd", "all processes"], ...rows.map((r) => [r.what, r.n, ms(r.cpu.workerd), ms(r.cpu.all)])]);
  if (idles.length > 0) {
    const idle = medCpu(idles);
    console.log(`  idle, per second (taken off every row but the small warm hits): workerd ${ms(idle.workerd)} ms, all ${ms(idle.all)} ms`);
  }
  for (const note of notes) console.log(`  ${note}`);
}
