import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const worker = (extra: { bindings?: Record<string, string> } = {}) =>
  cloudflareTest({ main: "./worker/index.ts", wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: extra.bindings ?? {} } });

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    projects: [
      {
        // Unit and integration tests inside workerd: the worker's own modules, a real local R2,
        // and real HTTP to the fixture upstream on 127.0.0.1.
        plugins: [worker()],
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 30_000, provide: { storage: "r2" } },
      },
      {
        // The same route, fill, verification, registry and fault suites with an S3-compatible
        // bucket (a local SigV4-checking server) instead of the R2 binding. The coordinators read
        // the secrets from their own environment: the local server's fixed credentials.
        plugins: [worker({ bindings: { S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" } })],
        test: {
          name: "worker-s3",
          include: [
            "test/worker/fill/**/*.test.ts",
            "test/worker/registries/**/*.test.ts",
            "test/worker/routes/protocol.test.ts",
            "test/worker/routes/tarball-hit.test.ts",
            "test/worker/mirror/mirror.test.ts",
          ],
          exclude: ["test/worker/fill/gate.test.ts", "test/worker/fill/window.test.ts", "test/worker/registries/order.test.ts"],
          testTimeout: 30_000,
          provide: { storage: "s3" },
        },
      },
      {
        // End-to-end tests in Node: `wrangler dev` as a process, driven over HTTP and by Julia.
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], environment: "node", testTimeout: 300_000, hookTimeout: 120_000 },
      },
    ],
  },
});
