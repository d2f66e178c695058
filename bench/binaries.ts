/**
 * The binary mirror: a ~150 MB release tarball (listed in versions.json with its sha256 and size)
 * downloaded straight from a loopback bucket, then through a fresh pkgedge cold (streamed while
 * its sha256 is checked and it is written to the bucket) and warm (from the bucket), in one run.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBinaryBucket } from "../test/fixtures/binary-bucket.ts";
import { createBinaryBucket } from "../test/shared/binary-bucket.ts";
import { startWranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { mb, med, median, rate, ratio, RUNS, table, timedDownload, untilHit, withBenchWorker } from "./lib.ts";

const SIZE = 150 * 1024 * 1024;
const RELEASE = "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz";

export async function benchBinaries(): Promise<void> {
  console.log(`\n## (f) the binary mirror: a ${mb(SIZE)} release tarball listed in versions.json`);
  const server = await startBinaryBucket();
  try {
    const bucket = await createBinaryBucket(server.url);
    const file = await bucket.generate(RELEASE, SIZE);
    const versions = {
      "1.10.4": {
        stable: true,
        files: [
          {
            url: `https://julialang-s3.julialang.org/${RELEASE}`,
            os: "linux",
            arch: "x86_64",
            kind: "archive",
            sha256: file.sha256,
            size: file.size,
          },
        ],
      },
    };
    await bucket.put("bin/versions.json", JSON.stringify(versions), "application/json");

    const runs = {
      direct: [] as { ttfb: number; total: number }[],
      cold: [] as { ttfb: number; total: number }[],
      committed: [] as number[],
      warm: [] as { ttfb: number; total: number }[],
    };
    for (let i = 0; i < RUNS; i++) {
      const d = await timedDownload(`${bucket.url}/${RELEASE}`);
      if (d.bytes !== SIZE) throw new Error(`direct download got ${d.bytes} of ${SIZE} bytes`);
      runs.direct.push(d);
    }
    for (let i = 0; i < RUNS; i++) {
      const state = mkdtempSync(join(tmpdir(), "pkgedge-bench-"));
      const dev = await startWranglerDev({ vars: { BINARY_MIRRORS: `julialang2=${bucket.url}` }, persistTo: state });
      try {
        const url = `${dev.url}/mirror/julialang2/${RELEASE}`;
        // Warm the runtime (worker and a coordinator) on another file: "cold" is the file, not the process.
        await (await fetch(`${dev.url}/mirror/julialang2/juliaup/DBVERSION`)).arrayBuffer();
        const cold = await timedDownload(url);
        if (cold.bytes !== SIZE) throw new Error(`cold download through pkgedge got ${cold.bytes} of ${SIZE} bytes`);
        runs.cold.push(cold);
        runs.committed.push(cold.total + (await untilHit(url)));
        const warm = await timedDownload(url);
        if (warm.bytes !== SIZE) throw new Error(`warm download through pkgedge got ${warm.bytes} of ${SIZE} bytes`);
        runs.warm.push(warm);
      } finally {
        await dev.stop();
        rmSync(state, { recursive: true, force: true });
      }
    }
    // The local bucket writing the same bytes alone (one put), from the same bucket URL.
    const floor = await withBenchWorker((url) =>
      median(RUNS, async () => (await fetch(`${url}/r2-put?part=0&url=${encodeURIComponent(`${bucket.url}/${RELEASE}`)}`)).json()),
    );
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    const base = med(runs.direct.map((r) => r.total));
    const row = (what: string, rs: { ttfb: number; total: number }[]) => {
      const total = med(rs.map((r) => r.total));
      return [what, ms(med(rs.map((r) => r.ttfb))), ms(total), rate(SIZE, total), ratio(total, base)];
    };
    const committed = med(runs.committed);
    table([
      ["what", "median first byte", "median total", "rate", "vs direct"],
      row("direct from the bucket (loopback)", runs.direct),
      row("pkgedge cold (streamed, sha256 and size checked)", runs.cold),
      ["  … until committed to the bucket", "", ms(committed), rate(SIZE, committed), ratio(committed, base)],
      row("pkgedge warm (from the bucket)", runs.warm),
      ["local bucket write alone: one put", "", ms(floor), rate(SIZE, floor), ratio(floor, base)],
    ]);
    console.log(`  pkgedge cold until committed / the local bucket's write alone: ${ratio(committed, floor)}`);
  } finally {
    await server.close();
  }
}
