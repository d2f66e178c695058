/** verify: the tree-hash verifier inside workerd beside `gzip -dc FILE | sha1sum`, same file, same run. */

import { artifact300MB } from "./data.ts";
import { drain, MB, median, rate, ratio, RUNS, shellMedianMs, staticServer, table, withBenchWorker } from "./lib.ts";

export async function benchVerify(): Promise<void> {
  console.log("\n## verify: tree-hash verification throughput inside workerd");
  const t = artifact300MB();
  console.log(`  tarball: ${(t.size / MB).toFixed(0)} MB gzipped, ${(t.payload / MB).toFixed(0)} MB of content, ${t.entries} entries`);
  const reference = shellMedianMs(RUNS, `gzip -dc '${t.file}' | sha1sum > /dev/null`);
  const files = await staticServer(new Map([["/artifact.tar.gz", t.file]]));
  try {
    await withBenchWorker(async (worker) => {
      const url = (form: string) => `${worker}/verify?form=${form}&url=${encodeURIComponent(`${files.url}/artifact.tar.gz`)}`;
      const rows = [
        ["what", "median time", "rate (gzipped bytes)", "vs gzip -dc | sha1sum"],
        ["gzip -dc FILE | sha1sum", `${reference.toFixed(0)} ms`, rate(t.size, reference), "1.00×"],
      ];
      for (const [form, label] of [
        ["push", "pkgedge verifier, as a fill feeds it (workerd)"],
        ["piped", "pkgedge verifier, stream piped in (workerd)"],
      ] as const) {
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
