/**
 * Prefetching through the queue (miniflare's, with this worker as its consumer), on R2 and S3: a
 * new snapshot's package versions and the artifacts they name end up verified in the bucket with
 * no client request, the conservative list waits for them (PREFETCH_GATE), and a version no
 * upstream can serve goes through its retries to the dead-letter queue and is reported failed.
 *
 * The consumer's configuration is this project's (vitest.config.ts): the upstream `/u/prefetch-<backend>`,
 * everything prefetched for x86_64-linux-gnu only, lazy artifacts skipped, retries a second apart
 * (at once on S3).
 */

import { env } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../../worker/index";
import { gzip, tarBytes } from "../verify/tar-writer";
import type { PrefetchMessage } from "../../../worker/prefetch/prefetch";
import {
  auditBucket,
  backend,
  fixtureBytes,
  manifest,
  mirror,
  putObject,
  storedBytes,
  storedInfo,
  storedText,
  treeHashOfTarGz,
  upstream,
} from "../harness";

const { prefetch } = manifest;
/** The fixture upstream this project's consumer fills from (one per backend, so projects never share it). */
const PREFETCH_UPSTREAM = `prefetch-${backend}`;
const list = (path: string) => `${path}\n`;
const key = (path: string) => path.slice(1);
const hashOf = (path: string) => manifest.objects[path]!.treeHash;

async function meta(m: ReturnType<typeof mirror>): Promise<any> {
  return (await m.fetch("/meta")).json();
}

/** Polls until `check` holds (the queue delivers in its own time), or fails saying what was last seen. */
async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, seconds = 90): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last = await probe();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 500));
    last = await probe();
  }
  return last;
}

async function inBucket(paths: string[]): Promise<string[]> {
  const present = await Promise.all(paths.map(async (p) => ((await storedInfo(key(p))) ? p : null)));
  return present.filter((p): p is string => p !== null);
}

const snapshotReport = async (m: ReturnType<typeof mirror>, path: string) =>
  (await meta(m)).prefetch.snapshots.find((s: any) => s.registry === path) ?? null;

describe("prefetching a new snapshot", () => {
  it("fills what it adds before any client asks, and holds the conservative list until then", async () => {
    // Upstream has no eager list yet: the new snapshot will be eager's first, and must still be
    // compared with the snapshot conservative clients have, not taken for the registry's first.
    const up = await upstream({ lists: { conservative: list(prefetch.base) } }, PREFETCH_UPSTREAM);
    const m = mirror({});
    await m.scheduled();
    // The first snapshot has nothing to compare with: published at once.
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    expect(await storedText("registries.eager")).toBeNull();

    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) } });
    const started = Date.now();
    // An eager client first: eager publishes the new snapshot before conservative looks at it.
    expect(await (await m.fetch("/registries.eager")).text()).toBe(list(prefetch.next));
    await m.scheduled();
    // Held back: nothing it adds is in the bucket yet.
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    const refused = (await meta(m)).registries.conservative.by_registry[manifest.registryUuid].refused;
    expect(refused.map((r: any) => r.reason).join("; ")).toMatch(/prefetching/);

    const wanted = [...prefetch.packages, prefetch.artifacts["x86_64-linux-gnu"]];
    await until(
      "packages and the Linux artifact in the bucket",
      () => inBucket(wanted),
      (got) => got.length === wanted.length,
    );
    const seconds = (Date.now() - started) / 1000;
    const report = await until(
      "the ledger settled",
      () => snapshotReport(m, prefetch.next),
      (r) => r?.pending === 0,
    );
    expect(report).toMatchObject({ total: wanted.length, done: wanted.length, failed: 0, base: hashOf(prefetch.base) });
    console.log(JSON.stringify({ event: "prefetch_measured", items: wanted.length, seconds }));

    // Not the macOS artifact (PREFETCH_PLATFORMS) nor the lazy one (PREFETCH_LAZY=false).
    expect(await inBucket([prefetch.artifacts["aarch64-apple-darwin"], prefetch.artifacts.lazy])).toEqual([]);
    // What was stored is what the registry names: its tree hash checks out.
    const jll = prefetch.packages.at(-1)!;
    expect((await treeHashOfTarGz(new Blob([(await storedBytes(key(jll)))!]).stream())).noSkip).toBe(hashOf(jll));

    // No client asked: the upstream saw only the fills' GETs (one per item) and their HEAD probes.
    const tarballs = (await up.log()).filter((r) => !r.path.startsWith("/registr") && !r.path.startsWith("/origin"));
    const gets = tarballs.filter((r) => r.method === "GET");
    expect(gets.map((r) => r.path).sort()).toEqual([...wanted].sort());
    console.log(JSON.stringify({ event: "prefetch_upstream_requests", gets: gets.length, heads: tarballs.length - gets.length }));

    // The status page says so.
    expect(await (await m.fetch("/")).text()).toContain(`<code>${hashOf(prefetch.next)}</code>: 52 of 52 in the bucket</li>`);

    // The next round publishes it for conservative clients too.
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
    await m.settle();
  });

  it("retries what no upstream serves or serves wrong, stores neither, dead-letters both, and keeps the gate closed until they are in the bucket", async () => {
    const broken = prefetch.packages[0]!; // the upstream answers 503
    const forged = prefetch.packages[1]!; // the upstream sends another valid tarball under its name
    const faults = { [broken]: "status-503", [forged]: "wrong-bytes" } as const;
    const up = await upstream({ lists: { conservative: list(prefetch.base), eager: list(prefetch.base) }, faults }, PREFETCH_UPSTREAM);
    const m = mirror({});
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) }, faults });
    await m.scheduled();
    // Six deliveries each (max_retries = 5), a doubling delay from 1 s apart (on S3 none), then
    // the dead-letter queue.
    const warn = vi.spyOn(console, "warn");
    const report = await until(
      "both versions failed",
      () => snapshotReport(m, prefetch.next),
      (r) => r?.failed === 2,
      110,
    );
    const delays = warn.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('"prefetch_failed"') && l.includes(key(broken)))
      .map((l) => JSON.parse(l).retry_in);
    expect(delays).toEqual(backend === "r2" ? [1, 2, 4, 8, 16, 32] : [0, 0, 0, 0, 0, 0]);
    const failure = (path: string) => report.failures.find((f: any) => f.key === key(path));
    expect(failure(broken)).toMatchObject({ attempts: 6, error: expect.stringMatching(/503/) });
    // The forged bytes failed the tree-hash check once; after that the upstream is passed over for it.
    expect(failure(forged)).toMatchObject({ attempts: 6, error: expect.stringMatching(/failed verification/) });
    expect(report.done).toBe(report.total - 2);
    // Nothing unverified was stored: every object in the bucket checks out, and neither is there.
    const stored = await auditBucket();
    expect(stored).not.toContain(key(broken));
    expect(stored).not.toContain(key(forged));
    // Upstream was asked about each once per delivery at most, never in a hot loop, and the forged
    // bytes were downloaded once.
    const log = await up.log();
    expect(log.filter((r) => r.path === broken && r.method === "HEAD").length).toBeLessThanOrEqual(12);
    expect(log.filter((r) => r.path === forged && r.method === "GET")).toHaveLength(1);

    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    const refused = (await meta(m)).registries.conservative.by_registry[manifest.registryUuid].refused;
    expect(refused.map((r: any) => r.reason).join("; ")).toMatch(/2 failed/);

    // Mended: one filled by a client's request once the remembered failure (5 s) and the key's
    // backoff (a second, for this client) are over; the other seeded into the bucket directly (as
    // infra:prefetch --to-bucket would). The gate finds both in the bucket and opens.
    await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) } });
    await new Promise((r) => setTimeout(r, 5500));
    const res = await mirror({ FILL_BACKOFF_SECONDS: "1" }).fetch(broken);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await putObject(key(forged), await fixtureBytes(forged));
    await m.settle();
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
    expect(await snapshotReport(m, prefetch.next)).toMatchObject({ failed: 0, done: report.total });
    await m.settle();
  }, 150_000);
});

describe("the daily budget", () => {
  it("fills no more than PREFETCH_DAILY_BUDGET a day; the rest wait for the next day without spending retries", async () => {
    const info = vi.spyOn(console, "log");
    const up = await upstream({}, PREFETCH_UPSTREAM);
    const snapshot = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    const paths = prefetch.packages.slice(0, 5);
    const batch = createMessageBatch<PrefetchMessage>(
      "pkgedge-local-prefetch",
      paths.map((path, i) => ({
        id: `m${i}`,
        timestamp: Date.now(),
        attempts: 1,
        body: { kind: "package", snapshot, key: key(path), label: path },
      })),
    );
    const ctx = createExecutionContext();
    // The real queue handler, with a budget of two fills for the day.
    await worker.queue!(batch as MessageBatch, { ...env, PREFETCH_DAILY_BUDGET: "2" } as Env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(result.retryMessages).toEqual([]);
    expect(await inBucket(paths)).toHaveLength(2);
    const gets = (await up.log()).filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    const deferred = info.mock.calls.map((c) => String(c[0])).filter((line) => line.includes('"prefetch_deferred"'));
    expect(deferred).toHaveLength(3);
    expect(JSON.parse(deferred[0]!).delay_seconds).toBeGreaterThan(0);
  });
});

describe("a package whose Artifacts.toml cannot be read", () => {
  it("is done (it is stored and verified), its artifacts left to clients, and the message is not retried", async () => {
    const warn = vi.spyOn(console, "warn");
    const path = prefetch.packages.at(-1)!;
    // An Artifacts.toml over the 1 MiB pkgedge reads: the same bytes on every attempt.
    const huge = `[big]\ngit-tree-sha1 = "${"1".repeat(40)}"\n# ${"x".repeat(2 * 1024 * 1024)}\n`;
    await putObject(key(path), await gzip(tarBytes([{ name: "Artifacts.toml", data: huge }])));
    const snapshot = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    const batch = createMessageBatch<PrefetchMessage>("pkgedge-local-prefetch", [
      { id: "m0", timestamp: Date.now(), attempts: 1, body: { kind: "package", snapshot, key: key(path), label: "Hello_jll@1.1.0" } },
    ]);
    await worker.queue!(batch as MessageBatch, env as Env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.explicitAcks).toEqual(["m0"]);
    expect(result.retryMessages).toEqual([]);
    const line = warn.mock.calls.map((c) => String(c[0])).find((l) => l.includes('"prefetch_artifacts_unreadable"'));
    expect(line).toMatch(/Artifacts\.toml is \d+ bytes/);
  });
});
