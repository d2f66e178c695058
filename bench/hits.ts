/**
 * Warm hits, each beside nginx serving the same files from disk (how the deployment pkgedge
 * replaces served hits) and the runtime floor (a worker answering from memory: under wrangler dev
 * a local proxy sits in front of workerd, and small requests mostly measure it):
 *   (a) a small package tarball, 32 concurrent keep-alive clients for a fixed duration, also beside
 *       a naive worker returning the same object from its bucket (`get`, then the body)
 *   (b) one warm 300 MB artifact
 */

import autocannon from "autocannon";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildCatalogue } from "../test/fixtures/catalogue.ts";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { startWranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { s3StorageVars, startS3Server } from "../test/fixtures/s3-server.ts";
import { artifact300MB } from "./data.ts";
import { drain, mb, med, median, rate, ratio, RUNS, table, untilHit, withBenchWorker } from "./lib.ts";
import { cpuPerRequest } from "./cpu.ts";
import { nginxAvailable, startNginx } from "./nginx.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 32;
const NAIVE_SMALL = "naive R2 worker (one get, obj.body)";
const FLOOR = "runtime floor (worker answering from memory)";
const CPU_REQUESTS = 2000;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

/**
 * (b) with the S3 backend: pkgedge's warm read of the artifact from a local S3 server beside a
 * worker that signs one GET to the same server and returns its body.
 */
async function warmFromS3(upstream: string, path: string, size: number): Promise<void> {
  console.log(`\n## (b, S3) the same warm artifact from an S3 bucket (@20minutes/s3rver on 127.0.0.1)`);
  const dir = mkdtempSync(join(tmpdir(), "pkgedge-bench-s3-"));
  const s3 = await startS3Server(join(dir, "s3"));
  const vars = { UPSTREAM_SERVERS: upstream, ...s3StorageVars(s3.info) };
  const dev = await startWranglerDev({ vars, persistTo: join(dir, "state") });
  try {
    await drain(await fetch(dev.url + path));
    await untilHit(dev.url + path);
    // The reference first: a read that breaks there is the local S3 server's doing, not pkgedge's.
    const nv = await withBenchWorker(async (bench) => {
      const key = path.slice(1);
      const url = `${bench}/naive-s3?endpoint=${encodeURIComponent(s3.info.endpoint)}&bucket=${s3.info.bucket}&key=${encodeURIComponent(key)}`;
      const nv = await median(RUNS, async () => {
        const n = await drain(await fetch(url));
        if (n !== size) throw new Error(`the naive S3 worker delivered ${n} of ${size} bytes`);
      });
      return nv;
    });
    const rows = [["server", "median time", "rate", "pkgedge vs it"]];
    // A read that breaks is reported, not timed: pkgedge breaks a body the bucket cut short.
    let broken = 0;
    const pk = await median(RUNS, async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const n = await drain(await fetch(dev.url + path));
          if (n === size) return;
          throw new Error(`${n} of ${size} bytes`);
        } catch (err) {
          broken++;
          console.log(`  a warm read from the S3 bucket broke (${err instanceof Error ? err.message : String(err)}); pkgedge logged:`);
          console.log(
            dev
              .output()
              .split("\n")
              .filter((l) => /"level":"(warn|error)"/.test(l))
              .slice(-3)
              .join("\n"),
          );
          if (attempt === 2) throw err;
        }
      }
    });
    if (broken > 0) console.log(`  ${broken} warm read(s) broke and were repeated`);
    rows.push(["pkgedge (wrangler dev, S3 bucket)", `${pk.toFixed(0)} ms`, rate(size, pk), "1.00×"]);
    rows.push(["naive S3 worker (one signed GET, its body returned)", `${nv.toFixed(0)} ms`, rate(size, nv), ratio(nv, pk)]);
    table(rows);
  } finally {
    await dev.stop();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * (a, CPU) What each server spends per warm hit, in all (wrangler, workerd) and in workerd alone,
 * over CPU_REQUESTS requests at 32 connections, RUNS times, medians: steadier than requests/s on a
 * shared machine. The naive worker that logs one line per request shows what the log line costs.
 */
async function cpuPerHit(servers: { name: string; url: string; pgid: number }[]): Promise<void> {
  console.log(`\n## (a, CPU) CPU per warm hit: ${CPU_REQUESTS} requests, ${CONNECTIONS} connections, ${RUNS} runs, medians`);
  const per = new Map<string, { all: number[]; workerd: number[] }>(servers.map((s) => [s.name, { all: [], workerd: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (const s of servers) {
      const cpu = await cpuPerRequest(s.pgid, s.url, CPU_REQUESTS, CONNECTIONS);
      per.get(s.name)!.all.push(cpu.all);
      per.get(s.name)!.workerd.push(cpu.workerd);
    }
  }
  const first = per.get(servers[0]!.name)!;
  const rows = [["server", "CPU per request", "of which workerd", "pkgedge's CPU / its CPU"]];
  for (const s of servers) {
    const m = per.get(s.name)!;
    rows.push([s.name, `${med(m.all).toFixed(2)} ms`, `${med(m.workerd).toFixed(2)} ms`, ratio(med(first.all), med(m.all))]);
  }
  table(rows);
}

export async function benchHits(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
  try {
    const catalogue = buildCatalogue(join(work, "fixtures"));
    const pkg = `/package/${catalogue.manifest.example.uuid}/${Object.values(catalogue.manifest.example.versions).at(-1)}`;
    const t = artifact300MB();
    const big = `/artifact/${t.treeHash}`;
    const files = new Map([...catalogue.files, [big, t.file]]);
    const size = readFileSync(catalogue.files.get(pkg)!).length;

    // nginx serves the same files, laid out by their protocol paths.
    const www = join(work, "www");
    for (const [path, file] of files) {
      mkdirSync(dirname(join(www, path)), { recursive: true });
      copyFileSync(file, join(www, path));
    }
    const fixture = await startFixtureServer({ files });
    const dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: fixture.configure("hits", {}) }, persistTo: join(work, "state") });
    const nginx = nginxAvailable() ? await startNginx(join(work, "nginx"), { root: www }) : null;
    try {
      // Fail loudly on a broken setup instead of benchmarking error pages.
      if (nginx && (await fetch(nginx.url + pkg)).status !== 200)
        throw new Error(`nginx does not serve ${pkg}: see ${join(work, "nginx", "error.log")}`);
      // Warm pkgedge's bucket.
      for (const path of [pkg, big]) {
        await drain(await fetch(dev.url + path));
        await untilHit(dev.url + path);
      }

      console.log(`\n## (a) warm hits on a ${size}-byte package tarball: ${CONNECTIONS} keep-alive connections, ${SECONDS} s each`);
      const rows = [["server", "requests/s", "p50 latency", "p99 latency", "errors"]];
      const results: Record<string, Load> = {};
      const add = (name: string, l: Load) => {
        results[name] = l;
        rows.push([name, l.rps.toFixed(0), `${l.p50} ms`, `${l.p99} ms`, String(l.errors)]);
      };
      add("pkgedge (wrangler dev, local R2)", await load(dev.url + pkg));
      if (nginx) add("nginx static", await load(nginx.url + pkg));
      await withBenchWorker(async (bench, benchPgid) => {
        // The same object from the same kind of local bucket by a worker that does nothing else.
        const put = (await (
          await fetch(`${bench}/r2-put?part=0&url=${encodeURIComponent(fixture.configure("naive-small", {}) + pkg)}`)
        ).json()) as {
          key: string;
          size: number;
        };
        if (put.size !== size) throw new Error(`the naive worker stored ${put.size} bytes, expected ${size}`);
        add(NAIVE_SMALL, await load(`${bench}/naive-get?key=${put.key}`));
        add(FLOOR, await load(`${bench}/floor?size=${size}`));
        table(rows);
        const p = results["pkgedge (wrangler dev, local R2)"]!;
        if (nginx) console.log(`  pkgedge / nginx: ${ratio(p.rps, results["nginx static"]!.rps)} the requests/s`);
        console.log(`  pkgedge / naive R2 worker: ${ratio(p.rps, results[NAIVE_SMALL]!.rps)} the requests/s (the goal: ≥ 0.90×)`);
        console.log(`  pkgedge / runtime floor: ${ratio(p.rps, results[FLOOR]!.rps)} the requests/s`);
        await cpuPerHit([
          { name: "pkgedge (access log on)", url: dev.url + pkg, pgid: dev.process.pid! },
          { name: NAIVE_SMALL, url: `${bench}/naive-get?key=${put.key}`, pgid: benchPgid },
          { name: "naive R2 worker logging one line per request", url: `${bench}/naive-get?key=${put.key}&log=1`, pgid: benchPgid },
        ]);
      });

      console.log(`\n## (b) one warm ${mb(t.size)} artifact`);
      const big2 = [["server", "median time", "rate", "pkgedge vs it"]];
      const pk = await median(RUNS, async () => drain(await fetch(dev.url + big)));
      big2.push(["pkgedge (wrangler dev, local R2)", `${pk.toFixed(0)} ms`, rate(t.size, pk), "1.00×"]);
      // The runtime's own floor for the same read: a worker that gets the object (written with one
      // put, as pkgedge now writes it) from the same kind of local bucket and returns obj.body.
      await withBenchWorker(async (bench) => {
        const upstreamUrl = `${fixture.configure("naive", {})}${big}`;
        const put = (await (await fetch(`${bench}/r2-put?part=0&url=${encodeURIComponent(upstreamUrl)}`)).json()) as {
          key: string;
          size: number;
        };
        if (put.size !== t.size) throw new Error(`the naive worker stored ${put.size} bytes, expected ${t.size}`);
        const nv = await median(RUNS, async () => drain(await fetch(`${bench}/naive-get?key=${put.key}`)));
        big2.push(["naive R2 worker (one get, obj.body)", `${nv.toFixed(0)} ms`, rate(t.size, nv), ratio(nv, pk)]);
      });
      if (nginx) {
        const ng = await median(RUNS, async () => drain(await fetch(nginx.url + big)));
        big2.push(["nginx static", `${ng.toFixed(0)} ms`, rate(t.size, ng), ratio(ng, pk)]);
      }
      table(big2);
      console.log("  (pkgedge vs it: the reference's time over pkgedge's, so 1.00× is as fast; the goal is ≥ 0.8× the naive worker)");
      await warmFromS3(fixture.configure("hits-s3", {}), big, t.size);
    } finally {
      await nginx?.stop();
      await dev.stop();
      await fixture.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
