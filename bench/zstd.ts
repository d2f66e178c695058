/**
 * zstd: what Julia 1.13 clients gain from pkgedge's zstd variants, and what making them costs.
 * For the package- and artifact-sized bench tarballs and one made of this machine's real shared
 * libraries and docs (the shape of a JLL): sizes, the client's unpack time (`gzip -dc` beside
 * `zstd -dc`, the commands Pkg's unpacking amounts to), the time pkgedge took inside workerd to
 * make and verify the variant (gunzip, encode at ZSTD_LEVEL, decode, tree hash, store; from its
 * own `zstd_made` log line), and a warm zstd hit beside a warm gzip hit, all in the same run.
 */

import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { startWranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { artifact32MB, jllLike, package1MB, package8MB, type BenchTarball } from "./data.ts";
import { drain, have, mb, median, RUNS, ratio, shellMedianMs, table } from "./lib.ts";

const JULIA_113 = { "accept-encoding": "zstd, gzip" };

interface Made {
  bytes: number;
  tarBytes: number;
  ms: number;
}

/** The worker's own record of making a key's variant. */
function madeLine(output: string, key: string): Made | null {
  for (const line of output.split("\n")) {
    if (!line.includes('"event":"zstd_made"') || !line.includes(key)) continue;
    return JSON.parse(line.slice(line.indexOf("{"))) as Made;
  }
  return null;
}

export async function benchZstd(): Promise<void> {
  console.log(`\n## zstd: variants for Julia 1.13 clients (ZSTD_LEVEL ${process.env.ZSTD_LEVEL ?? "default"}), beside the gzip tarballs`);
  if (!have("zstd")) {
    console.log("  skipped: no zstd command on this machine");
    return;
  }
  const data: [string, BenchTarball][] = [
    ["package 1 MB", package1MB()],
    ["package 8 MB", package8MB()],
    ["artifact 32 MB", artifact32MB()],
    ["JLL-like (real .so and docs)", jllLike()],
  ];
  const work = mkdtempSync(join(tmpdir(), "pkgedge-bench-zstd-"));
  const files = new Map(data.map(([, t]) => [`/artifact/${t.treeHash}`, t.file]));
  const fixture = await startFixtureServer({ files });
  // ZSTD_LEVEL from the environment, to compare levels (`ZSTD_LEVEL=3 npm run bench -- zstd`).
  const level: Record<string, string> = process.env.ZSTD_LEVEL ? { ZSTD_LEVEL: process.env.ZSTD_LEVEL } : {};
  const vars = { UPSTREAM_SERVERS: fixture.configure("zstd", {}), PREFETCH: "off", ...level };
  const dev = await startWranglerDev({ vars, persistTo: join(work, "state") });
  try {
    const sizes = [["tarball", "tar", "gzip", "zstd", "zstd / gzip", "gzip -dc", "zstd -dc", "unpack speed-up"]];
    const costs = [["tarball", "made in workerd", "s per GB of tar", "warm gzip hit", "warm zstd hit", "zstd hit vs gzip hit"]];
    for (const [name, t] of data) {
      const path = `/artifact/${t.treeHash}`;
      await drain(await fetch(dev.url + path, { headers: JULIA_113 })); // cold: gzip, and the variant is made
      let made: Made | null = null;
      for (let waited = 0; !made; waited += 100) {
        if (waited > 600_000) throw new Error(`${name}: no variant after 10 minutes`);
        await new Promise((r) => setTimeout(r, 100));
        made = madeLine(dev.output(), path.slice(1));
      }
      const zstdFile = join(work, `${t.treeHash}.tar.zst`);
      const res = await fetch(dev.url + path, { headers: JULIA_113 });
      if (res.headers.get("content-type") !== "application/zstd") throw new Error(`${name}: the variant is not served`);
      await pipeline(Readable.fromWeb(res.body as never), createWriteStream(zstdFile));
      // Fails the run unless the variant holds the very tar the gzip tarball holds.
      shellMedianMs(1, `cmp -s <(gzip -dc '${t.file}') <(zstd -dc '${zstdFile}')`);
      const gunzipMs = shellMedianMs(RUNS, `gzip -dc '${t.file}' > /dev/null`);
      const unzstdMs = shellMedianMs(RUNS, `zstd -dc '${zstdFile}' > /dev/null`);
      const zstdBytes = statSync(zstdFile).size;
      sizes.push([
        name,
        mb(made.tarBytes),
        mb(t.size),
        mb(zstdBytes),
        `${((zstdBytes / t.size) * 100).toFixed(0)} %`,
        `${gunzipMs.toFixed(0)} ms`,
        `${unzstdMs.toFixed(0)} ms`,
        ratio(gunzipMs, unzstdMs),
      ]);
      const warmGzip = await median(RUNS, async () => drain(await fetch(dev.url + path)));
      const warmZstd = await median(RUNS, async () => drain(await fetch(dev.url + path, { headers: JULIA_113 })));
      costs.push([
        name,
        `${made.ms} ms`,
        ((made.ms / 1000) * (1e9 / made.tarBytes)).toFixed(1),
        `${warmGzip.toFixed(0)} ms`,
        `${warmZstd.toFixed(0)} ms`,
        ratio(warmGzip, warmZstd),
      ]);
    }
    table(sizes);
    console.log("  (each variant checked byte for byte: `zstd -dc` gives the tar `gzip -dc` gives)");
    table(costs);
    console.log(
      "  made in workerd: wall time from the start of making the variant to its store, one worker on this machine (an upper bound for its CPU time)",
    );
  } finally {
    await dev.stop();
    await fixture.close();
    rmSync(work, { recursive: true, force: true });
  }
}
