/**
 * prefetch: the cost of diffing two registry snapshots of General's size (what the queue consumer
 * does for every published snapshot), beside `tar -tz` listing both archives. Registry-shaped
 * data: 12,000 packages with four TOML files each (48,000 entries), 100,000 versions; the next
 * snapshot adds 50. Run inside workerd (the benchmark worker under wrangler dev, V8's heap capped
 * at the isolate's 128 MB, workerd's RSS sampled) and in a child Node with the same cap (its peak
 * heap sampled: what the diff itself holds).
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, openAsBlob, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, RUNS, shellMedianMs, staticServer, table, withBenchWorker } from "./lib.ts";
import { sampleRss } from "./rss.ts";

const OUT = fileURLToPath(new URL("./out/prefetch/", import.meta.url));
const PACKAGES = 12_000;
const VERSIONS = 100_000;
const ADDED = 50;

const hex = (n: number, salt: string) => (salt + n.toString(16)).padStart(40, "0").slice(-40);
const uuid = (n: number) => {
  const h = n.toString(16).padStart(32, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function writeRegistry(dir: string, extra: number): void {
  rmSync(dir, { recursive: true, force: true });
  const perPackage = Math.floor(VERSIONS / PACKAGES);
  let registry = 'name = "General"\nuuid = "23338594-aafe-5451-b93e-139f81909106"\n\n[packages]\n';
  for (let p = 0; p < PACKAGES; p++) {
    const name = `Package${p}`;
    const path = `${String.fromCharCode(65 + (p % 26))}/${name}`;
    registry += `${uuid(p + 1)} = { name = "${name}", path = "${path}" }\n`;
    mkdirSync(join(dir, path), { recursive: true });
    // The first `extra` packages gain one version each in the next snapshot.
    const count = perPackage + (p < extra ? 1 : 0);
    let versions = "";
    for (let v = 0; v < count; v++) versions += `["0.${v}.0"]\ngit-tree-sha1 = "${hex(p * 1000 + v, "a")}"\n\n`;
    writeFileSync(
      join(dir, path, "Package.toml"),
      `name = "${name}"\nuuid = "${uuid(p + 1)}"\nrepo = "https://example.org/${name}.jl.git"\n`,
    );
    writeFileSync(join(dir, path, "Versions.toml"), versions);
    writeFileSync(join(dir, path, "Deps.toml"), `["0"]\nLibA = "${uuid(999_999)}"\n`);
    writeFileSync(join(dir, path, "Compat.toml"), `["0"]\njulia = "1.6.0-1"\n`);
  }
  writeFileSync(join(dir, "Registry.toml"), registry);
}

function build(): { base: string; next: string } {
  const base = join(OUT, "base.tar.gz");
  const next = join(OUT, "next.tar.gz");
  if (existsSync(base) && existsSync(next)) return { base, next };
  mkdirSync(OUT, { recursive: true });
  for (const [file, extra] of [
    [base, 0],
    [next, ADDED],
  ] as const) {
    const dir = join(OUT, "tree");
    writeRegistry(dir, extra);
    execFileSync("bash", [
      "-c",
      `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "${dir}" -cf - . | gzip -n -6 > "${file}"`,
    ]);
    rmSync(dir, { recursive: true, force: true });
  }
  return { base, next };
}

/** Runs in the child: one diff, with the heap sampled as versions stream past. */
async function child(base: string, next: string): Promise<void> {
  const { addedVersions } = await import("../worker/prefetch/snapshot.ts");
  let peak = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const before = process.memoryUsage().heapUsed;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const { added, cost } = await addedVersions((await openAsBlob(base)).stream(), (await openAsBlob(next)).stream());
  const used = process.cpuUsage(cpu);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  console.log(
    JSON.stringify({
      ms: performance.now() - started,
      cpuMs: (used.user + used.system) / 1000,
      added: added.length,
      baseVersions: cost.baseVersions,
      nextVersions: cost.nextVersions,
      peakHeapMB: (peak - before) / 1e6,
    }),
  );
}

export async function benchPrefetch(): Promise<void> {
  console.log(`\nprefetch: diffing two General-sized snapshots (${PACKAGES} packages, ${VERSIONS} versions, +${ADDED})`);
  const { base, next } = build();
  const results = Array.from({ length: RUNS }, () => {
    const out = execFileSync(process.execPath, ["--max-old-space-size=128", fileURLToPath(import.meta.url), "child", base, next]);
    return JSON.parse(out.toString().trim().split("\n").at(-1)!) as {
      ms: number;
      cpuMs: number;
      added: number;
      baseVersions: number;
      nextVersions: number;
      peakHeapMB: number;
    };
  }).sort((a, b) => a.ms - b.ms);
  const mid = results[Math.floor(results.length / 2)]!;
  const tarMs = shellMedianMs(RUNS, `tar -tzf "${base}" >/dev/null && tar -tzf "${next}" >/dev/null`);
  const files = await staticServer(
    new Map([
      ["/base.tar.gz", base],
      ["/next.tar.gz", next],
    ]),
  );
  /** One benchmark-worker route on the two archives, in a fresh worker: its first answer, median time and RSS growth. */
  const inWorkerd = <T>(route: string) =>
    withBenchWorker(
      async (url, pgid) => {
        const routeUrl = `${url}/${route}?url=${encodeURIComponent(`${files.url}/base.tar.gz`)}&next=${encodeURIComponent(`${files.url}/next.tar.gz`)}`;
        const first = (await (await fetch(routeUrl)).json()) as T;
        const rss = sampleRss(pgid);
        const ms = await median(RUNS, async () => (await fetch(routeUrl)).arrayBuffer());
        const { idle, peak } = rss.stop();
        return { ms, rssGrowthMB: (peak - idle) / 1e6, ...first };
      },
      { MINIFLARE_WORKERD_V8_FLAGS: "--max-old-space-size=128" },
    );
  let workerd: { ms: number; rssGrowthMB: number; added: number };
  let ordered: { ms: number; rssGrowthMB: number; order: string };
  try {
    workerd = await inWorkerd<{ added: number }>("diff");
    // The refresh's content order of the same two snapshots.
    ordered = await inWorkerd<{ order: string }>("content-order");
  } finally {
    await files.close();
  }
  const size = (f: string) => statSync(f).size / 1e6;
  table([
    ["", "wall", "CPU", "peak heap", "vs tar -tz"],
    ["tar -tz of both (reference)", `${tarMs.toFixed(0)} ms`, "", "", "1.00×"],
    [
      `pkgedge diff in workerd (found ${workerd.added} of ${ADDED})`,
      `${workerd.ms.toFixed(0)} ms`,
      "",
      `RSS +${workerd.rssGrowthMB.toFixed(1)} MB`,
      `${(workerd.ms / tarMs).toFixed(2)}×`,
    ],
    [
      `content order in workerd (says ${ordered.order}; expected newer)`,
      `${ordered.ms.toFixed(0)} ms`,
      "",
      `RSS +${ordered.rssGrowthMB.toFixed(1)} MB`,
      `${(ordered.ms / tarMs).toFixed(2)}×`,
    ],
    [
      `pkgedge diff in Node (found ${mid.added} of ${ADDED})`,
      `${mid.ms.toFixed(0)} ms`,
      `${mid.cpuMs.toFixed(0)} ms`,
      `${mid.peakHeapMB.toFixed(1)} MB`,
      `${(mid.ms / tarMs).toFixed(2)}×`,
    ],
  ]);
  console.log(
    `  archives: ${size(base).toFixed(1)} MB and ${size(next).toFixed(1)} MB gzipped; V8 heap capped at 128 MB (the isolate's limit)`,
  );
}

if (process.argv[2] === "child") await child(process.argv[3]!, process.argv[4]!);
