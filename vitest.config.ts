import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// Prefetching is off for the suites that do not test it: their snapshots would otherwise queue
// fills from the default (unreachable) upstreams in the background.
// A fill coordinator resuming an interrupted fill checks its upstreams against its own
// environment's UPSTREAM_SERVERS (the deployed configuration), not a test's: these fixture
// upstreams, named per backend so the two projects never share one, which the tests that
// interrupt fills set up (harness.ts, resumableUpstream).
const worker = (storage: "r2" | "s3", extra: { bindings?: Record<string, string> } = {}) =>
  cloudflareTest(({ inject }) => ({
    main: "./worker/index.ts",
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: {
      bindings: {
        PREFETCH: "off",
        // The tests read log lines as JSON (wrangler.toml's local configuration prints text).
        LOG_FORMAT: "json",
        UPSTREAM_SERVERS: [1, 2, 3].map((i) => `${inject("manifest").controlUrl}/u/resumable-${storage}-${i}`).join(","),
        ...extra.bindings,
      },
    },
  }));

// The queue's consumer runs with the worker's own environment, not a test's, so the prefetch
// suites configure it here: one fixture upstream per backend (`/u/prefetch-r2`, `/u/prefetch-s3`,
// set up by each test, so the two projects never share it), the
// fixture registry's origin and history, everything prefetched, the gate on, retries a second apart (on S3
// at once: the retry path is the same, and the six deliveries of a dead-lettered item take no time).
const PREFETCH_TEST = "test/worker/prefetch/queue.test.ts";
const prefetching = (storage: "r2" | "s3") =>
  cloudflareTest(({ inject }) => {
    const { controlUrl, registryUuid } = inject("manifest");
    return {
      main: "./worker/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          LOG_FORMAT: "json",
          UPSTREAM_SERVERS: `${controlUrl}/u/prefetch-${storage}`,
          REGISTRIES: `${registryUuid}=${controlUrl}/origin/{hash}`,
          REGISTRY_HISTORY: `${registryUuid}=${controlUrl}/history`,
          PREFETCH: "all",
          PREFETCH_GATE: "true",
          PREFETCH_PLATFORMS: "x86_64-linux-gnu",
          PREFETCH_LAZY: "false",
          PREFETCH_RETRY_DELAY_SECONDS: storage === "s3" ? "0" : "1",
          ...(storage === "s3" ? s3Bindings(inject("s3")) : {}),
        },
      },
    };
  });

/** The consumer's bucket on the S3 server; the harness empties it before each test. */
function s3Bindings(s3: { endpoint: string; accessKeyId: string; secretAccessKey: string }): Record<string, string> {
  return {
    STORAGE: "s3",
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: "prefetch-test",
    S3_REGION: "us-east-1",
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

// Test files mostly wait (on upstreams, timers, the bucket), so the workerd projects run several
// files at once, each in its own workerd; vitest's default on two cores would be one at a time.
// The end-to-end files start wrangler dev and Julia, which use the CPU, so they run after the
// workerd projects (`sequence.groupOrder`), three at a time: they also wait (on patience, on
// Julia), and three finished a whole run 20 s sooner than two (235 s against 257 s; five workerd
// files at once was slower, the CPU being the limit there).
const WORKERD_FILES_AT_ONCE = 4;
const E2E_FILES_AT_ONCE = 3;

// The files that take longest, started first whatever their project: vitest otherwise runs the
// workerd projects' files project by project, so the two prefetch files (40–80 s each) started last
// and ran on alone at the end of a clean clone's run.
const LONGEST_FIRST = ["prefetch/queue.test.ts", "registries/property.test.ts", "mirror/mirror.test.ts", "fill/faults.test.ts"];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const at = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(name));
      return at < 0 ? LONGEST_FIRST.length : at;
    };
    const group = (f: TestSpecification) => f.project.config.sequence.groupOrder ?? 0;
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => group(a.f) - group(b.f) || rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    maxWorkers: WORKERD_FILES_AT_ONCE,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        // Unit and integration tests inside workerd: the worker's own modules, a real local R2,
        // and real HTTP to the fixture upstream on 127.0.0.1.
        plugins: [worker("r2")],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          exclude: [PREFETCH_TEST],
          testTimeout: 30_000,
          provide: { storage: "r2" },
        },
      },
      {
        // Prefetching through the real (simulated) queue, on each bucket backend.
        plugins: [prefetching("r2")],
        test: { name: "worker-prefetch", include: [PREFETCH_TEST], testTimeout: 120_000, provide: { storage: "r2" } },
      },
      {
        plugins: [prefetching("s3")],
        test: { name: "worker-prefetch-s3", include: [PREFETCH_TEST], testTimeout: 120_000, provide: { storage: "s3" } },
      },
      {
        // The bucket-facing route, fill, verification, registry and fault suites with an S3-compatible
        // bucket (a local SigV4-checking server) instead of the R2 binding. The coordinators read
        // the secrets from their own environment: the local server's fixed credentials.
        plugins: [worker("s3", { bindings: { S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" } })],
        test: {
          name: "worker-s3",
          include: [
            "test/worker/fill/**/*.test.ts",
            "test/worker/registries/**/*.test.ts",
            "test/worker/routes/protocol.test.ts",
            "test/worker/routes/tarball-hit.test.ts",
            "test/worker/routes/zstd.test.ts",
            "test/worker/routes/redirect.test.ts",
            "test/worker/mirror/mirror.test.ts",
            "test/worker/auth/routes.test.ts",
            "test/worker/auth/endpoints.test.ts",
          ],
          // Pure cores, and the hostile-upstream suite: what it breaks is upstream behaviour; what a
          // broken fill leaves in an S3 bucket (an aborted multipart upload, nothing stored) is the
          // storage contract's and the miss and fault suites' to check on both backends.
          exclude: [
            "test/worker/fill/gate.test.ts",
            "test/worker/fill/window.test.ts",
            "test/worker/fill/hostile.test.ts",
            "test/worker/registries/order.test.ts",
            "test/worker/registries/decision.test.ts",
            // Who is blamed when upstreams misbehave, and how the history orders snapshots: upstream
            // behaviour and pure decisions, whose bucket side the suites above already cover.
            "test/worker/fill/pass-over*.test.ts",
            "test/worker/fill/continuation-sources.test.ts",
            "test/worker/fill/continuation-overrun.test.ts",
            "test/worker/fill/verify-first-patience.test.ts",
            "test/worker/fill/single-upstream-breaks.test.ts",
            "test/worker/fill/corrupt-then-reset.test.ts",
            "test/worker/fill/short-body-blame.test.ts",
            "test/worker/registries/history-hostile.test.ts",
            "test/worker/registries/history-cache-race.test.ts",
          ],
          testTimeout: 30_000,
          provide: { storage: "s3" },
        },
      },
      {
        // End-to-end tests in Node: `wrangler dev` as a process, driven over HTTP and by Julia.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 300_000,
          hookTimeout: 120_000,
          maxWorkers: E2E_FILES_AT_ONCE,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
