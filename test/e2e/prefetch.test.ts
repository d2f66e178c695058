/**
 * Prefetching end to end under `wrangler dev` (its local queue, its Durable Objects, its local
 * R2): a new snapshot is published upstream, pkgedge fills what it adds with no client asking,
 * holds the conservative list until it has, and then the real Julia client installs the new
 * versions and the artifact they name with zero cold misses in the access log. And seeding a
 * mirror with `npm run infra:prefetch`, resumably.
 */

import { afterEach, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { haveJulia, julia } from "./julia-client.ts";
import { runScript } from "./run-script.ts";

const manifest = inject("manifest");
const { prefetch } = manifest;
const hashOf = (path: string) => manifest.objects[path]!.treeHash;
const list = (path: string) => `${path}\n`;

let dev: WranglerDev | undefined;
let persistTo: string | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await dev?.stop();
  dev = undefined;
  if (persistTo) rmSync(persistTo, { recursive: true, force: true });
  for (const c of cleanups.splice(0)) c();
});

async function start(vars: Record<string, string>): Promise<WranglerDev> {
  persistTo = mkdtempSync(join(tmpdir(), "pkgedge-prefetch-state-"));
  dev = await startWranglerDev({ vars: { REGISTRY_TTL_SECONDS: "1", ...vars }, persistTo });
  return dev;
}

async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, seconds = 120): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${seconds} s\n${dev?.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const requestLines = (d: WranglerDev) =>
  d
    .output()
    .split("\n")
    .filter((l) => l.includes('"event":"request"'))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as Record<string, unknown>);

describe.skipIf(!haveJulia)("a new snapshot prefetched, then installed by Julia", () => {
  it("fills the new versions and their artifact before Julia asks: every tarball Julia gets is a hit", async () => {
    const up = await createUpstream(manifest.controlUrl, { lists: { conservative: list(prefetch.base), eager: list(prefetch.base) } });
    const d = await start({
      UPSTREAM_SERVERS: up.url,
      PREFETCH: "all",
      PREFETCH_GATE: "true",
      PREFETCH_PLATFORMS: "x86_64-linux-gnu",
      PREFETCH_RETRY_DELAY_SECONDS: "1",
    });
    const published = async (flavor: string) => (await fetch(`${d.url}/registries.${flavor}`)).text();
    await until(
      "the first snapshot published",
      () => published("conservative"),
      (t) => t === list(prefetch.base),
    );

    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) } });
    const started = Date.now();
    await until(
      "the new snapshot in the eager list",
      () => published("eager"),
      (t) => t === list(prefetch.next),
    );
    const report = await until(
      "the new snapshot prefilled",
      async () => ((await (await fetch(`${d.url}/meta`)).json()) as any).prefetch.snapshots.find((s: any) => s.registry === prefetch.next),
      (s) => s?.plannedAt && s.pending === 0,
    );
    // The new packages, the Linux artifact and (PREFETCH_LAZY defaults to true) the lazy one.
    expect(report).toMatchObject({ done: prefetch.packages.length + 2, failed: 0 });
    await until(
      "the conservative list",
      () => published("conservative"),
      (t) => t === list(prefetch.next),
    );
    console.log(JSON.stringify({ event: "prefetch_e2e", items: report.total, seconds: (Date.now() - started) / 1000 }));

    const { code, output } = await julia(
      d.url,
      `using Pkg
       Pkg.add(Pkg.PackageSpec(name="Seedling", version="0.1.50"))
       Pkg.add(Pkg.PackageSpec(name="Hello_jll", version="1.1.0"))
       println("LINUX_ARTIFACT=", Pkg.Artifacts.artifact_exists(Base.SHA1("${hashOf(prefetch.artifacts["x86_64-linux-gnu"])}")))`,
    );
    expect(code, output).toBe(0);
    expect(output).toMatch(/Installed Seedling .* v0\.1\.50/);
    expect(output).toMatch(/Installed Hello_jll .* v1\.1\.0/);
    expect(output).toContain("LINUX_ARTIFACT=true");
    await new Promise((r) => setTimeout(r, 500)); // request lines are written once bodies are delivered
    const tarballs = requestLines(d).filter(
      (l) => l.julia_version !== null && /^\/(package|artifact)\//.test(String(l.path)) && l.method === "GET",
    );
    expect(tarballs.map((l) => l.path)).toEqual(
      expect.arrayContaining([
        prefetch.packages[49]!, // Seedling 0.1.50
        prefetch.packages.at(-1)!,
        prefetch.artifacts["x86_64-linux-gnu"],
      ]),
    );
    expect(tarballs.filter((l) => l.cache !== "hit")).toEqual([]);
  });
});

describe("npm run infra:prefetch", () => {
  it("seeds what a snapshot adds through the worker, resumably, and reports failures", async () => {
    const broken = prefetch.packages[3]!;
    const up = await createUpstream(manifest.controlUrl, {
      lists: { conservative: list(prefetch.next), eager: list(prefetch.next) },
      faults: { [broken]: "status-503" },
    });
    // Failures not remembered, so the resumed run finds the upstream mended at once.
    const d = await start({ UPSTREAM_SERVERS: up.url, PREFETCH: "off", UPSTREAM_FAILURE_TTL_SECONDS: "0" });
    const state = join(persistTo!, "prefetch-state.json");
    const args = ["--url", d.url, "--registry", "latest", "--since", hashOf(prefetch.base), "--state", state, "--artifacts"];
    args.push("--platforms", "x86_64-linux-gnu", "--rate", "100");
    const first = await runScript("infra/prefetch.ts", args);
    expect(first.code, first.output).toBe(1);
    expect(first.output).toMatch(/51 package versions to check/);
    // 50 packages and the Linux and the lazy artifact filled; one package failed, named with its reason.
    expect(first.output).toMatch(/done: 52 filled, 0 already in the bucket, 1 failed/);
    expect(first.output).toMatch(/✗ Seedling@0\.1\.4: GET .*: HTTP 502/);

    // Resumed once the upstream is fixed: only the failed one is asked again.
    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) } });
    const second = await runScript("infra/prefetch.ts", args);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toMatch(/done: 1 filled, 0 already in the bucket, 0 failed/);
    const asked = (await up.log()).filter((r) => r.method === "GET" && r.path.startsWith("/package/"));
    expect(asked.map((r) => r.path)).toEqual([broken]);

    // A fresh run (no state file) finds everything in the bucket by HEAD (X-Cache: HIT), reading
    // the packages once more only for their Artifacts.toml, and fills nothing.
    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) } });
    const fresh = [
      ...args.slice(0, args.indexOf("--state")),
      "--state",
      join(persistTo!, "fresh.json"),
      ...args.slice(args.indexOf("--state") + 2),
    ];
    const third = await runScript("infra/prefetch.ts", fresh);
    expect(third.code, third.output).toBe(0);
    expect(third.output).toMatch(/done: 0 filled, 53 already in the bucket, 0 failed/);
    expect((await up.log()).filter((r) => r.method === "GET" && /^\/(package|artifact)\//.test(r.path))).toEqual([]);

    const help = await runScript("infra/prefetch.ts", ["--help"]);
    expect(help.code).toBe(0);
    expect(help.output).toMatch(/--since HASH/);
  });
});
