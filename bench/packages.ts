/**
 * Cold packages, and a cold fill whose upstream breaks, each beside its reference in the same run:
 *   - a cold 1 MB and a cold 8 MB package tarball through pkgedge vs a direct download from the same
 *     loopback upstream (first byte and total), against the target: within 1.5× the direct
 *     download plus 25 ms
 *   - a cold 34 MB artifact whose fastest upstream sends half of it, then resets the connection
 *     (another upstream has it whole) vs a clean cold fill of it: whether the first GET completed, its time, and how
 *     long a client retrying as Pkg does for artifacts (3 attempts, 1 s apart) takes to have it
 */

import { startFixtureServer, type FixtureServer } from "../test/fixtures/upstream-server.ts";
import { createUpstream, type Upstream } from "../test/shared/control.ts";
import { coldThroughPkgedge, withPkgedge } from "./cold.ts";
import { artifact32MB, package1MB, package8MB, type BenchTarball } from "./data.ts";
import { attemptDownload, type Attempt, lastWarnings, mb, med, median, RUNS, ratio, table, timedDownload, withBenchWorker } from "./lib.ts";

/** Any well-formed package UUID: pkgedge fills a package by its path alone. */
const PACKAGE_UUID = "7876af07-990d-54b4-ab0e-23690620f79a";

/** The bound for a cold package from a loopback upstream: 1.5× the direct download plus 25 ms. */
const targetMs = (direct: number) => 1.5 * direct + 25;

const ms = (x: number) => `${x.toFixed(0)} ms`;

/** What the local runtime alone needs for the same bytes: the bucket writing them, the verifier reading them. */
interface Floors {
  put: number;
  verify: number;
}

async function floorsOf(worker: string, t: BenchTarball, url: string): Promise<Floors> {
  const verifyUrl = `${worker}/verify?form=push&url=${encodeURIComponent(url)}`;
  const first = (await (await fetch(verifyUrl)).json()) as { skip: string };
  if (first.skip !== t.treeHash) throw new Error(`verifier computed ${first.skip}, git says ${t.treeHash}`);
  return {
    put: await median(RUNS, async () => (await fetch(`${worker}/r2-put?part=0&url=${encodeURIComponent(url)}`)).json()),
    verify: await median(RUNS, async () => (await fetch(verifyUrl)).json()),
  };
}

async function coldPackage(t: BenchTarball, path: string, upstream: string, floors: Floors): Promise<string[][]> {
  await timedDownload(upstream + path); // the file in the page cache for both, untimed
  // The reference takes milliseconds, so more samples of it cost nothing and steady the target.
  const direct = { ttfb: [] as number[], total: [] as number[] };
  for (let i = 0; i < 5 * RUNS; i++) {
    const d = await timedDownload(upstream + path);
    if (d.bytes !== t.size) throw new Error(`direct download delivered ${d.bytes} of ${t.size} bytes`);
    direct.ttfb.push(d.ttfb);
    direct.total.push(d.total);
  }
  const cold = await coldThroughPkgedge(upstream, path, t.size);
  const base = med(direct.total);
  const target = targetMs(base);
  const total = med(cold.total);
  return [
    [`${mb(t.size)} package, direct from the upstream`, ms(med(direct.ttfb)), ms(base), "1.00×", ""],
    [
      `${mb(t.size)} package, pkgedge cold miss`,
      ms(med(cold.ttfb)),
      ms(total),
      ratio(total, base),
      `≤ ${ms(target)}: ${total <= target ? "met" : "missed"} (${ratio(total, target)} of it)`,
    ],
    [`  … until committed to the bucket`, "", ms(med(cold.committed)), ratio(med(cold.committed), base), ""],
    [`  the local bucket writing it alone (one put)`, "", ms(floors.put), ratio(floors.put, base), ""],
    [`  pkgedge's verifier alone, as a fill feeds it`, "", ms(floors.verify), ratio(floors.verify, base), ""],
  ];
}

function describe(a: Attempt, size: number): string {
  if (a.broke) return `broken at ${a.bytes} bytes (${((100 * a.bytes) / size).toFixed(0)}%)`;
  if (a.status !== 200) return `status ${a.status}`;
  return a.bytes === size ? "completed" : `ended clean at ${a.bytes} bytes`;
}

/** The GETs upstreams saw, as "resetting: whole; other: range 1048576-". */
async function upstreamGets(named: Record<string, Upstream>): Promise<string> {
  const parts: string[] = [];
  for (const [name, up] of Object.entries(named)) {
    const gets = (await up.log()).filter((r) => r.method === "GET");
    const described = gets.map((g) => (g.headers.range ? `range ${g.headers.range.replace("bytes=", "")}` : "whole"));
    parts.push(`${name}: ${described.length === 0 ? "none" : described.join(", ")}`);
  }
  return parts.join("; ");
}

interface BrokenRun {
  first: Attempt;
  /** When a client retrying as Pkg does for artifacts had the whole body, or null if it never did. */
  inHand: { ms: number; attempts: number } | null;
  /** The upstream GETs behind the first GET, and behind the retries after it. */
  gets: string;
  retryGets: string;
}

/** A fresh pkgedge whose fastest upstream sends half of `path` and resets; another has it whole. */
async function brokenUpstreamRun(fixture: FixtureServer, t: BenchTarball, path: string): Promise<BrokenRun> {
  const fast = await createUpstream(fixture.url, { faults: { [path]: "reset" } });
  // Its HEAD answers later, so the resetting upstream wins the probe and fills.
  const other = await createUpstream(fixture.url, { headDelayMs: 100 });
  return withPkgedge(`${fast.url},${other.url}`, async (dev) => {
    await (await fetch(`${dev.url}/artifact/${"0".repeat(40)}`)).arrayBuffer(); // the runtime warm, as for the clean fill
    const start = performance.now();
    const first = await attemptDownload(dev.url + path);
    if (first.broke) console.log(`  first GET: ${first.broke}\n${lastWarnings(dev.output(), 3)}`);
    const gets = await upstreamGets({ resetting: fast, other });
    let inHand: BrokenRun["inHand"] =
      first.status === 200 && !first.broke && first.bytes === t.size ? { ms: first.total, attempts: 1 } : null;
    for (let attempt = 2; attempt <= 3 && !inHand; attempt++) {
      await new Promise((r) => setTimeout(r, 1000));
      const a = await attemptDownload(dev.url + path);
      console.log(`  attempt ${attempt}: ${describe(a, t.size)} after ${ms(a.total)}`);
      if (a.status === 200 && !a.broke && a.bytes === t.size) inHand = { ms: performance.now() - start, attempts: attempt };
    }
    const all = await upstreamGets({ resetting: fast, other });
    return { first, inHand, gets, retryGets: all === gets ? "none" : all };
  });
}

async function brokenUpstream(fixture: FixtureServer, t: BenchTarball, path: string): Promise<void> {
  console.log(`\n## a cold ${mb(t.size)} artifact whose fastest upstream sends half of it, then resets the connection`);
  const clean = await coldThroughPkgedge(fixture.configure("clean", {}), path, t.size);
  const runs: BrokenRun[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await brokenUpstreamRun(fixture, t, path));
  const base = med(clean.total);
  const firstTotal = med(runs.map((r) => r.first.total));
  const completed = runs.filter((r) => describe(r.first, t.size) === "completed").length;
  // A broken transfer's time says when it broke, not what it cost: it is never compared with a whole one.
  const firstVsClean = completed === RUNS ? ratio(firstTotal, base) : `n/a: not whole in ${RUNS - completed} of ${RUNS}`;
  const inHand = runs.filter((r) => r.inHand !== null);
  const rows = [
    ["what", "median first byte", "median total", "vs clean", "first GET"],
    ["clean cold fill (one upstream)", ms(med(clean.ttfb)), ms(base), "1.00×", `completed in ${RUNS} of ${RUNS}`],
    [
      "fastest upstream sends half, then resets: first GET",
      ms(med(runs.map((r) => r.first.ttfb))),
      ms(firstTotal),
      firstVsClean,
      `completed in ${completed} of ${RUNS}; ${runs.map((r) => describe(r.first, t.size)).join("; ")}`,
    ],
    [
      "  … until a client retrying as Pkg does for artifacts has it",
      "",
      inHand.length === 0 ? "never" : ms(med(inHand.map((r) => r.inHand!.ms))),
      inHand.length === 0 ? "" : ratio(med(inHand.map((r) => r.inHand!.ms)), base),
      `in hand in ${inHand.length} of ${RUNS}, attempts: ${runs.map((r) => r.inHand?.attempts ?? "none of 3").join(", ")}`,
    ],
  ];
  table(rows);
  console.log(`  upstream GETs behind the first GET: ${runs.map((r) => r.gets).join(" | ")}`);
  console.log(`  … and after the retries (cumulative): ${runs.map((r) => r.retryGets).join(" | ")}`);
}

export async function benchPackages(): Promise<void> {
  const small = package1MB();
  const large = package8MB();
  const artifact = artifact32MB();
  const smallPath = `/package/${PACKAGE_UUID}/${small.treeHash}`;
  const largePath = `/package/${PACKAGE_UUID}/${large.treeHash}`;
  const artifactPath = `/artifact/${artifact.treeHash}`;
  const files = new Map([
    [smallPath, small.file],
    [largePath, large.file],
    [artifactPath, artifact.file],
  ]);
  const fixture = await startFixtureServer({ files });
  try {
    console.log("\n## cold packages from a loopback upstream");
    const upstream = fixture.configure("loopback", {});
    const rows = [["what", "median first byte", "median total", "vs direct", "target: 1.5× direct + 25 ms"]];
    const floors = await withBenchWorker(async (worker) => ({
      small: await floorsOf(worker, small, upstream + smallPath),
      large: await floorsOf(worker, large, upstream + largePath),
    }));
    rows.push(...(await coldPackage(small, smallPath, upstream, floors.small)));
    rows.push(...(await coldPackage(large, largePath, upstream, floors.large)));
    table(rows);
    await brokenUpstream(fixture, artifact, artifactPath);
  } finally {
    await fixture.close();
  }
}
