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
import { retryDelaySeconds, type PrefetchMessage } from "../../../worker/prefetch/prefetch";
import {
  auditBucket,
  backend,
  fixtureBytes,
  manifest,
  testWorker,
  type TestWorker,
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
/** This project's PREFETCH_RETRY_DELAY_SECONDS (vitest.config.ts): 1 on R2, 0 on S3. */
const RETRY_BASE_SECONDS = Number(env.PREFETCH_RETRY_DELAY_SECONDS);
const key = (path: string) => path.slice(1);
const hashOf = (path: string) => manifest.objects[path]!.treeHash;

async function meta(m: TestWorker): Promise<any> {
  return (await m.fetch("/meta")).json();
}

/** Polls until `check` holds (the queue delivers in its own time), or fails saying what was last seen. */
async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, seconds = 90, everyMs = 500): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last = await probe();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${seconds} s`);
    await new Promise((r) => setTimeout(r, everyMs));
    last = await probe();
  }
  return last;
}

async function inBucket(paths: string[]): Promise<string[]> {
  const present = await Promise.all(paths.map(async (p) => ((await storedInfo(key(p))) ? p : null)));
  return present.filter((p): p is string => p !== null);
}

const snapshotReport = async (m: TestWorker, path: string) =>
  (await meta(m)).prefetch.snapshots.find((s: any) => s.registry === path) ?? null;

describe("prefetching a new snapshot", () => {
  it("fills what it adds before any client asks, and holds the conservative list until then", async () => {
    // Upstream has no eager list yet: the new snapshot will be eager's first, and must still be
    // compared with the snapshot conservative clients have, not taken for the registry's first.
    const up = await upstream({ lists: { conservative: list(prefetch.base) } }, PREFETCH_UPSTREAM);
    const m = testWorker({});
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

    // With ZSTD on (the default), each item's zstd variant is made too, after it settled.
    await until(
      "their zstd variants in the bucket",
      () => inBucket(wanted.map((p) => `${p}.tar.zst`)),
      (got) => got.length === wanted.length,
    );
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

  // Where retries are immediate (S3 here), all six deliveries fall within the remembered failure.
  it.skipIf(RETRY_BASE_SECONDS === 0)(
    "delivers a failed item again after its retry delay, and fills it once the upstream serves it",
    async () => {
      const broken = prefetch.packages[0]!;
      const lists = { conservative: list(prefetch.next), eager: list(prefetch.next) };
      const up = await upstream({ lists: { conservative: list(prefetch.base), eager: list(prefetch.base) } }, PREFETCH_UPSTREAM);
      const m = testWorker({});
      await m.scheduled();
      const warn = vi.spyOn(console, "warn");
      await up.reconfigure({ lists, faults: { [broken]: "status-503" } });
      await m.scheduled();
      const failures = () =>
        warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"prefetch_failed"') && l.includes(key(broken)));
      // Looked for often: the time it is seen must be close to the time it was logged.
      await until(
        "a first failed delivery",
        async () => failures().length,
        (n) => n >= 1,
        30,
        10,
      );
      const firstAt = Date.now();
      expect(JSON.parse(failures()[0]!).retry_in).toBe(retryDelaySeconds(RETRY_BASE_SECONDS, 1));
      await up.reconfigure({ lists }); // mended: the next delivery after the remembered failure fills it
      await until(
        "a second delivery",
        async () => failures().length,
        (n) => n >= 2,
        30,
      );
      expect(Date.now() - firstAt).toBeGreaterThanOrEqual(RETRY_BASE_SECONDS * 1000 - 100); // held back, not at once
      await until(
        "the item in the bucket",
        () => inBucket([broken]),
        (found) => found.length === 1,
        60,
      );
      expect((await treeHashOfTarGz(new Blob([(await storedBytes(key(broken)))!]).stream())).noSkip).toBe(hashOf(broken));
      await until(
        "the whole plan filled",
        () => snapshotReport(m, prefetch.next),
        (r) => r?.done === r?.total,
        60,
      );
      await m.settle();
    },
  );

  // Dead-lettering takes six deliveries: with the R2 project's retries a second apart and doubling,
  // 31 s of waiting, so it runs where retries are immediate (the retry path is the same; the
  // doubling is retryDelaySeconds's, checked with vectors in backoff.test.ts).
  it.skipIf(RETRY_BASE_SECONDS > 0)(
    "retries what no upstream serves or serves wrong, stores neither, dead-letters both, and keeps the gate closed until they are in the bucket",
    async () => {
      const broken = prefetch.packages[0]!; // the upstream answers 503
      const forged = prefetch.packages[1]!; // the upstream sends another valid tarball under its name
      const faults = { [broken]: "status-503", [forged]: "wrong-bytes" } as const;
      const up = await upstream({ lists: { conservative: list(prefetch.base), eager: list(prefetch.base) }, faults }, PREFETCH_UPSTREAM);
      const m = testWorker({});
      await m.scheduled();
      await up.reconfigure({ lists: { conservative: list(prefetch.next), eager: list(prefetch.next) }, faults });
      await m.scheduled();
      // Six deliveries each (max_retries = 5), then the dead-letter queue.
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
      expect(delays).toEqual([1, 2, 3, 4, 5, 6].map((attempts) => retryDelaySeconds(RETRY_BASE_SECONDS, attempts)));
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
      const res = await testWorker({ FILL_BACKOFF_SECONDS: "1" }).fetch(broken);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      await putObject(key(forged), await fixtureBytes(forged));
      await m.settle();
      await m.scheduled();
      expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
      expect(await snapshotReport(m, prefetch.next)).toMatchObject({ failed: 0, done: report.total });
      await m.settle();
    },
    150_000,
  );
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

/**
 * The prefetch queue's producer with a fault: every sendBatch (or with `send`, every send) throws
 * until `failures` is used up; the rest are recorded.
 */
function producer(failures = 0, call: "sendBatch" | "send" = "sendBatch") {
  const sent: PrefetchMessage[] = [];
  let left = failures;
  const queue = {
    async send(body: PrefetchMessage) {
      if (call === "send" && left > 0) {
        left--;
        throw new Error("Queue send failed: the queue is unavailable");
      }
      sent.push(body);
    },
    async sendBatch(messages: Iterable<MessageSendRequest<PrefetchMessage>>) {
      if (call === "sendBatch" && left > 0) {
        left--;
        throw new Error("Queue sendBatch failed: the queue is unavailable");
      }
      for (const m of messages) sent.push(m.body);
    },
  };
  return { queue: queue as unknown as Queue<PrefetchMessage>, sent };
}

/** A snapshot name no other test uses: its ledger starts empty. */
const freshSnapshot = () => ({
  uuid: manifest.registryUuid,
  treeHash: [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join(""),
});
const ledgerOf = (ref: { uuid: string; treeHash: string }) =>
  env.PREFETCH_LEDGERS!.get(env.PREFETCH_LEDGERS!.idFromName(`${ref.uuid}/${ref.treeHash}`));
const today = () => new Date().toISOString().slice(0, 10);
/** Today's fills and bytes (a bare number of fills, from a budget that counted no bytes). */
async function budgetSpent(): Promise<{ fills: number; bytes: number }> {
  const spent: unknown = await env.PREFETCH_BUDGET!.get(env.PREFETCH_BUDGET!.idFromName("daily")).spent(today());
  return typeof spent === "number" ? { fills: spent, bytes: 0 } : (spent as { fills: number; bytes: number });
}

/** Runs the real queue handler on one batch, with `vars` over the worker's environment. */
async function deliver(bodies: PrefetchMessage[], vars: Record<string, unknown> = {}, attempts = 1, queue = "pkgedge-local-prefetch") {
  const batch = createMessageBatch<PrefetchMessage>(
    queue,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: Date.now(), attempts, body })),
  );
  await worker.queue!(batch as MessageBatch, { ...env, ...vars } as Env);
  return getQueueResult(batch, createExecutionContext());
}

describe("a plan whose messages could not be sent", () => {
  it("is sent when the snapshot message is delivered again, and filled", async () => {
    await upstream({}, PREFETCH_UPSTREAM);
    for (const path of [prefetch.base, prefetch.next]) await putObject(key(path), await fixtureBytes(path));
    const ref = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    const snapshot: PrefetchMessage = { kind: "snapshot", uuid: ref.uuid, hash: ref.treeHash, base: hashOf(prefetch.base) };
    // The queue refuses the batch (an outage, a message over its size limit): the plan is written, nothing is sent.
    const failing = producer(1);
    const first = await deliver([snapshot], { PREFETCH_QUEUE: failing.queue });
    expect(first.retryMessages.map((m) => m.msgId)).toEqual(["m0"]);
    expect(failing.sent).toEqual([]);
    expect(await ledgerOf(ref).progress()).toMatchObject({ pending: 51 });
    // The retry, through the real queue: the planned items are sent after all, and filled.
    const second = await deliver([snapshot], {}, 2);
    expect(second.explicitAcks).toEqual(["m0"]);
    const wanted = [...prefetch.packages, prefetch.artifacts["x86_64-linux-gnu"]];
    await until(
      "everything planned in the bucket",
      () => inBucket(wanted),
      (got) => got.length === wanted.length,
      40,
    );
    await until(
      "the ledger settled",
      () => ledgerOf(ref).progress(),
      (p) => p.pending === 0 && p.done === wanted.length,
      20,
    );
  });
});

describe("a plan whose snapshot message is lost after a failed send", () => {
  it("is sent when the gate next asks about the snapshot, and filled", async () => {
    const up = await upstream({ lists: { conservative: list(prefetch.base) } }, PREFETCH_UPSTREAM);
    const m = testWorker({});
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    await putObject(key(prefetch.next), await fixtureBytes(prefetch.next));
    const ref = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    // Planned, the send failed, and the snapshot message is never delivered again.
    const failing = producer(1);
    await deliver([{ kind: "snapshot", uuid: ref.uuid, hash: ref.treeHash, base: hashOf(prefetch.base) }], {
      PREFETCH_QUEUE: failing.queue,
    });
    expect(await ledgerOf(ref).progress()).toMatchObject({ pending: 51, done: 0 });
    await up.reconfigure({ lists: { conservative: list(prefetch.next) } });
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    const wanted = [...prefetch.packages, prefetch.artifacts["x86_64-linux-gnu"]];
    await until(
      "everything planned in the bucket",
      () => inBucket(wanted),
      (got) => got.length === wanted.length,
      40,
    );
    await until(
      "the ledger settled",
      () => ledgerOf(ref).progress(),
      (p) => p.pending === 0,
      20,
    );
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
    await m.settle();
  });
});

describe("a plan request the queue refused", () => {
  it("is asked for again at the gate's next look, not ten minutes later", async () => {
    const up = await upstream({ lists: { conservative: list(prefetch.base) } }, PREFETCH_UPSTREAM);
    const m = testWorker({});
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(prefetch.next) } });
    // The first look at the new snapshot: the queue refuses the plan message.
    const refusing = producer(1, "send");
    await testWorker({ PREFETCH_QUEUE: refusing.queue }).scheduled();
    expect(refusing.sent).toEqual([]);
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    // The refusal held back that candidate, with its reason; the round itself went on.
    const refused = (await meta(m)).registries.conservative.by_registry[manifest.registryUuid].refused;
    expect(refused.map((r: any) => r.reason).join("; ")).toMatch(/queue refused the plan request: Queue send failed/);
    // The next look (the real queue) asks again, and the snapshot is planned and filled.
    await m.scheduled();
    const ref = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    await until(
      "the snapshot planned and settled",
      () => ledgerOf(ref).progress(),
      (p) => p.total > 0 && p.pending === 0,
      40,
    );
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
    await m.settle();
  });
});

describe("the gate over several snapshots", () => {
  it("keeps conservative behind a version an intermediate snapshot added until it is in the bucket", async () => {
    const [s0, s1] = [manifest.snapshots[0]!, manifest.snapshots[1]!];
    const s2 = prefetch.next;
    // S1 adds Example 0.5.3, which no upstream serves; S2 adds only versions that fill.
    const lost = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
    const faults = { [lost]: "status-503" } as const;
    const up = await upstream({ lists: { conservative: list(s0), eager: list(s0) }, faults }, PREFETCH_UPSTREAM);
    const m = testWorker({});
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(s0));

    await up.reconfigure({ lists: { conservative: list(s1), eager: list(s1) }, faults });
    await m.scheduled();
    expect(await storedText("registries.eager")).toBe(list(s1));
    const r1 = { uuid: manifest.registryUuid, treeHash: hashOf(s1) };
    await until(
      "S1 planned",
      () => ledgerOf(r1).progress(),
      (p) => p.total === 1,
      20,
    );
    // It fails for good: the dead-letter queue's consumer marks it so.
    await deliver([{ kind: "package", snapshot: r1, key: key(lost), label: "Example@0.5.3" }], {}, 1, "pkgedge-local-prefetch-failed");
    expect(await ledgerOf(r1).progress()).toMatchObject({ failed: 1 });

    // Eager moves on to S2 (upstream's conservative list lags), planned against S1; everything S2
    // itself adds is filled. Then upstream's conservative list names S2 too.
    await up.reconfigure({ lists: { conservative: list(s1), eager: list(s2) }, faults });
    await m.scheduled();
    expect(await storedText("registries.eager")).toBe(list(s2));
    const r2 = { uuid: manifest.registryUuid, treeHash: hashOf(s2) };
    const own = await until(
      "S2's own plan settled",
      () => ledgerOf(r2).progress(),
      (p) => p.total > 0 && p.pending === 0,
      40,
    );
    expect(own).toMatchObject({ base: hashOf(s1), failed: 0 });
    await up.reconfigure({ lists: { conservative: list(s2), eager: list(s2) }, faults });
    await m.scheduled();
    // Conservative clients would get a list naming Example 0.5.3, which is not in the bucket.
    expect(await storedText("registries.conservative")).toBe(list(s0));
    const refused = (await meta(m)).registries.conservative.by_registry[manifest.registryUuid].refused;
    expect(refused.map((r: any) => r.reason).join("; ")).toMatch(/over 2 snapshots\), 1 failed/);

    // Once it is in the bucket (a client's request, infra:prefetch), the gate opens.
    await up.reconfigure({ lists: { conservative: list(s2), eager: list(s2) } });
    await putObject(key(lost), await fixtureBytes(lost));
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(s2));
    await m.settle();
  });
});

describe("a failed package the gate finds in the bucket after all", () => {
  it("has its artifacts queued before the gate opens", async () => {
    const jll = prefetch.packages.at(-1)!;
    const linux = prefetch.artifacts["x86_64-linux-gnu"];
    const faults = { [jll]: "status-503" } as const;
    const up = await upstream({ lists: { conservative: list(prefetch.base) }, faults }, PREFETCH_UPSTREAM);
    const m = testWorker({});
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(prefetch.next) }, faults });
    await m.scheduled();
    const ref = { uuid: manifest.registryUuid, treeHash: hashOf(prefetch.next) };
    await until(
      "everything but the JLL filled",
      () => ledgerOf(ref).progress(),
      (p) => p.total === prefetch.packages.length && p.pending === 1,
      40,
    );
    // It fails for good, then is seeded into the bucket (infra:prefetch --to-bucket).
    await deliver([{ kind: "package", snapshot: ref, key: key(jll), label: "Hello_jll@1.1.0" }], {}, 1, "pkgedge-local-prefetch-failed");
    await up.reconfigure({ lists: { conservative: list(prefetch.next) } });
    await putObject(key(jll), await fixtureBytes(jll));
    await m.scheduled();
    // The artifact it names is not in the bucket yet: the gate waits for it.
    expect(await storedText("registries.conservative")).toBe(list(prefetch.base));
    await until(
      "the JLL's artifact in the bucket",
      () => inBucket([linux]),
      (got) => got.length === 1,
      20,
    );
    await until(
      "the ledger settled",
      () => ledgerOf(ref).progress(),
      (p) => p.pending === 0 && p.failed === 0,
      20,
    );
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(prefetch.next));
    await m.settle();
  });
});

describe("the gate when the snapshots in between cannot tell", () => {
  it("has what the candidate adds over conservative's snapshot planned directly, and waits for it", async () => {
    const [s0, s1] = [manifest.snapshots[0]!, manifest.snapshots[1]!];
    const s2 = prefetch.next;
    const added = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`; // by S1
    const up = await upstream({ lists: { conservative: list(s0) } }, PREFETCH_UPSTREAM);
    const m = testWorker({});
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(s0));
    // S2 was planned against S1, whose own ledger is gone (expired, say): nothing says what S1 added.
    for (const path of [s1, s2]) await putObject(key(path), await fixtureBytes(path));
    const r2 = { uuid: manifest.registryUuid, treeHash: hashOf(s2) };
    await deliver([{ kind: "snapshot", uuid: r2.uuid, hash: r2.treeHash, base: hashOf(s1) }]);
    await until(
      "S2's own plan settled",
      () => ledgerOf(r2).progress(),
      (p) => p.total > 0 && p.pending === 0,
      40,
    );
    await up.reconfigure({ lists: { conservative: list(s2) } });
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(s0));
    const refused = (await meta(m)).registries.conservative.by_registry[manifest.registryUuid].refused;
    expect(refused.map((r: any) => r.reason).join("; ")).toMatch(/listing what it adds over/);
    const direct = env.PREFETCH_LEDGERS!.get(env.PREFETCH_LEDGERS!.idFromName(`${r2.uuid}/${r2.treeHash} since ${hashOf(s0)}`));
    const planned = await until(
      "S2 over S0 planned and settled",
      () => direct.progress(),
      (p) => p.total > 0 && p.pending === 0,
      40,
    );
    expect(planned).toMatchObject({ base: hashOf(s0), failed: 0, total: addedOverSnapshot1() });
    expect(await inBucket([added])).toEqual([added]);
    await m.scheduled();
    expect(await storedText("registries.conservative")).toBe(list(s2));
    await m.settle();
  });
});

/** What S2 adds over snapshot 1: Example 0.5.3, its own 51 versions and the Linux artifact. */
const addedOverSnapshot1 = () => prefetch.packages.length + 2;

describe("what an Artifacts.toml can make prefetching do", () => {
  const hex = (n: number, prefix: string) => `${prefix}${n.toString(16)}`.padEnd(40, "0");
  /** A package (stored under a made-up key) whose Artifacts.toml names these platform-independent artifacts. */
  async function packageNaming(artifacts: string[], name = (h: string) => `a_${h.slice(0, 6)}`): Promise<string> {
    const toml = artifacts.map((h) => `[${name(h)}]\ngit-tree-sha1 = "${h}"\n`).join("\n");
    const path = `package/${manifest.example.uuid}/${freshSnapshot().treeHash}`;
    await putObject(path, await gzip(tarBytes([{ name: "Artifacts.toml", data: toml }])));
    return path;
  }

  it("queues at most the caps' worth of artifacts, each once per snapshot, and reports the rest", async () => {
    const warn = vi.spyOn(console, "warn");
    const snapshot = freshSnapshot();
    const a = Array.from({ length: 12 }, (_, i) => hex(i, "a"));
    const b = Array.from({ length: 4 }, (_, i) => hex(i, "b"));
    const c = Array.from({ length: 4 }, (_, i) => hex(i, "c"));
    const long = "x".repeat(10_000);
    const packages = [
      // Twelve artifacts, one of them named at length: five are queued (the per-version cap).
      await packageNaming(a, (h) => (h === a[0] ? long : `a_${h.slice(0, 6)}`)),
      // Three of the same, then two new ones within its five: only the new ones are queued.
      await packageNaming([a[0]!, a[1]!, a[2]!, ...b]),
      // The snapshot's cap (eight) leaves room for one more.
      await packageNaming(c),
    ];
    const vars = { PREFETCH_MAX_ARTIFACTS_PER_VERSION: "5", PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT: "8" };
    const recorded = producer();
    for (const path of packages) {
      const result = await deliver([{ kind: "package", snapshot, key: path, label: "Bogus@1.0.0" }], {
        ...vars,
        PREFETCH_QUEUE: recorded.queue,
      });
      expect(result.explicitAcks).toEqual(["m0"]);
    }
    const keys = recorded.sent.map((m) => (m.kind === "snapshot" ? m.hash : m.key));
    expect(keys).toEqual([...a.slice(0, 5), b[0]!, b[1]!, c[0]!].map((h) => `artifact/${h}`));
    // Labels come from the file: bounded, so no message outgrows the queue's limit.
    for (const m of recorded.sent) if (m.kind !== "snapshot") expect(m.label.length).toBeLessThanOrEqual(200);
    // The rest are reported: seven of the first package, two of the second, three of the third.
    expect(await ledgerOf(snapshot).progress()).toMatchObject({ total: 8, pending: 8, skipped: 12 });
    const capped = warn.mock.calls.map((call) => String(call[0])).filter((l) => l.includes('"prefetch_artifacts_capped"'));
    expect(capped.map((l) => JSON.parse(l).left_out)).toEqual([7, 2, 3]);
    // Delivered again (a retry), the same package queues nothing twice.
    await deliver([{ kind: "package", snapshot, key: packages[0]!, label: "Bogus@1.0.0" }], { ...vars, PREFETCH_QUEUE: recorded.queue }, 2);
    expect(recorded.sent).toHaveLength(8);
    expect((await ledgerOf(snapshot).progress()).skipped).toBe(12);
  });

  it("takes the daily budget once per item however often it is retried, and nothing for what no upstream has", async () => {
    const broken = prefetch.packages[0]!;
    const nowhere = `/artifact/${hex(1, "d")}`;
    await upstream({ faults: { [broken]: "status-503" } }, PREFETCH_UPSTREAM);
    const snapshot = freshSnapshot();
    const bodies: PrefetchMessage[] = [broken, nowhere].map((path) => ({
      kind: path.startsWith("/package") ? "package" : "artifact",
      snapshot,
      key: key(path),
      label: path,
    }));
    const before = await budgetSpent();
    for (let attempt = 1; attempt <= 3; attempt++) {
      const result = await deliver(bodies, {}, attempt);
      expect(result.retryMessages.map((m) => m.msgId).sort()).toEqual(["m0", "m1"]);
    }
    expect(await inBucket([broken, nowhere])).toEqual([]);
    const after = await budgetSpent();
    expect(after.fills - before.fills).toBe(1);
    // With the day's budget now spent, an item already attempted is retried as before: it does
    // not wait for tomorrow as a new message, which would restart its retries.
    const spentOut = await deliver([bodies[0]!], { PREFETCH_DAILY_BUDGET: String(after.fills) }, 4);
    expect(spentOut.retryMessages.map((m) => m.msgId)).toEqual(["m0"]);
    expect(spentOut.explicitAcks).toEqual([]);
  });

  it("fills no more bytes a day than PREFETCH_DAILY_BYTES; the rest wait for the next day", async () => {
    const info = vi.spyOn(console, "log");
    await upstream({}, PREFETCH_UPSTREAM);
    const snapshot = freshSnapshot();
    const paths = prefetch.packages.slice(0, 3);
    const spent = await budgetSpent();
    const vars = { PREFETCH_DAILY_BYTES: String(spent.bytes + 1) };
    for (const path of paths) {
      const result = await deliver([{ kind: "package", snapshot, key: key(path), label: path }], vars);
      expect(result.explicitAcks).toEqual(["m0"]);
    }
    expect(await inBucket(paths)).toEqual([paths[0]]);
    // Its fill spent the day's bytes: no zstd variant is made for it either (clients have it made).
    expect(await inBucket([`${paths[0]}.tar.zst`])).toEqual([]);
    const now = await budgetSpent();
    expect(now.bytes).toBe(spent.bytes + manifest.objects[paths[0]!]!.size);
    expect((await meta(testWorker({}))).prefetch).toMatchObject({ spent_today: now.fills, spent_bytes_today: now.bytes });
    const deferred = info.mock.calls.map((c) => String(c[0])).filter((line) => line.includes('"prefetch_deferred"'));
    expect(deferred).toHaveLength(2);
  });
});
