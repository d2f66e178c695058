/**
 * first-byte: where a cold request's first byte goes, step by step, beside a direct download from
 * the same loopback upstream in the same run. A 1 MB artifact (streamed as it is filled), so the
 * body's own time is nothing:
 *   - direct from the upstream (the reference)
 *   - a warm hit: the bucket lookup and the response alone (a miss pays the same lookup first)
 *   - a cold GET with one upstream: the worker → coordinator call, then one GET upstream
 *   - a cold GET with two upstreams: the same, after a HEAD to each to choose between them
 *   - a cold HEAD: the worker → coordinator call and the HEAD probe
 *   - a cold package GET: a package is answered only once verified and stored (Pkg does not retry a
 *     broken package download; VERIFY_FIRST), so its first byte comes after the whole fill
 * Each run is a fresh `wrangler dev` whose runtime was warmed by a request for a resource nobody has.
 */

import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { withPkgedge } from "./cold.ts";
import { package1MB, package8MB } from "./data.ts";
import { med, RUNS, table, timedDownload, untilHit } from "./lib.ts";

const PACKAGE_UUID = "7876af07-990d-54b4-ab0e-23690620f79a";
const ms = (x: number) => `${x.toFixed(1)} ms`;

interface Steps {
  warm: number[];
  coldGet: number[];
  coldHead: number[];
  coldPackage: number[];
}

interface Paths {
  artifact: string;
  other: string;
  pkg: string;
}

async function stepsThrough(upstreams: string, paths: Paths, size: number): Promise<Steps> {
  const steps: Steps = { warm: [], coldGet: [], coldHead: [], coldPackage: [] };
  for (let i = 0; i < RUNS; i++) {
    await withPkgedge(upstreams, async (dev) => {
      await (await fetch(`${dev.url}/artifact/${"0".repeat(40)}`)).arrayBuffer();
      const cold = await timedDownload(dev.url + paths.artifact);
      if (cold.bytes !== size) throw new Error(`the cold GET delivered ${cold.bytes} of ${size} bytes`);
      steps.coldGet.push(cold.ttfb);
      const start = performance.now();
      const head = await fetch(dev.url + paths.other, { method: "HEAD" });
      if (head.status !== 200) throw new Error(`the cold HEAD answered ${head.status}`);
      steps.coldHead.push(performance.now() - start);
      steps.coldPackage.push((await timedDownload(dev.url + paths.pkg)).ttfb);
      // Warm hits once the cold GET's copy is stored (a HEAD without X-Cache-Miss).
      await untilHit(dev.url + paths.artifact);
      for (let j = 0; j < 5; j++) steps.warm.push((await timedDownload(dev.url + paths.artifact)).ttfb);
    });
  }
  return steps;
}

export async function benchFirstByte(): Promise<void> {
  console.log("\n## first byte, step by step: a 1 MB artifact from a loopback upstream");
  const small = package1MB();
  const other = package8MB();
  const paths = {
    artifact: `/artifact/${small.treeHash}`,
    other: `/artifact/${other.treeHash}`,
    pkg: `/package/${PACKAGE_UUID}/${small.treeHash}`,
  };
  const files = new Map([
    [paths.artifact, small.file],
    [paths.other, other.file],
    [paths.pkg, small.file],
  ]);
  const fixture = await startFixtureServer({ files });
  try {
    const one = fixture.configure("first-byte-a", {});
    const two = `${one},${fixture.configure("first-byte-b", {})}`;
    await timedDownload(one + paths.artifact); // in the page cache for everyone, untimed
    const direct: number[] = [];
    for (let i = 0; i < 5 * RUNS; i++) direct.push((await timedDownload(one + paths.artifact)).ttfb);
    const single = await stepsThrough(one, paths, small.size);
    const double = await stepsThrough(two, paths, small.size);
    const base = med(direct);
    const gap = (x: number[]) => `+${(med(x) - base).toFixed(1)} ms`;
    table([
      ["what", "median first byte", "after direct's"],
      ["direct from the upstream", ms(base), ""],
      ["pkgedge warm hit (bucket lookup, answer)", ms(med(single.warm)), gap(single.warm)],
      ["pkgedge cold GET, one upstream (no probe)", ms(med(single.coldGet)), gap(single.coldGet)],
      ["pkgedge cold GET, two upstreams (HEAD each, then GET)", ms(med(double.coldGet)), gap(double.coldGet)],
      ["pkgedge cold HEAD (the probe), one upstream", ms(med(single.coldHead)), gap(single.coldHead)],
      ["pkgedge cold package GET (verified before its first byte)", ms(med(single.coldPackage)), gap(single.coldPackage)],
    ]);
    console.log(`  (target: a cold first byte within 20 ms of direct; ${RUNS} fresh workers per row, warm hits 5 per worker)`);
  } finally {
    await fixture.close();
  }
}
