/**
 * Runs once per `npm test`: builds the fixture tarballs (hashes from git) and starts the fixture
 * upstream, the S3 server with a slow and a flaky proxy in front of it, and the fixture binary
 * bucket, on 127.0.0.1. Tests receive the
 * manifest through `inject("manifest")`.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildCatalogue } from "./fixtures/catalogue.ts";
import { startFixtureServer } from "./fixtures/upstream-server.ts";
import { startS3Server } from "./fixtures/s3-server.ts";
import { startThrottleProxy } from "./fixtures/throttle-proxy.ts";
import { startBinaryBucket } from "./fixtures/binary-bucket.ts";
import { startAnalyticsSql } from "./fixtures/analytics-sql.ts";
import "./shared/manifest.ts";

export default async function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), "pkgedge-fixtures-"));
  const catalogue = buildCatalogue(root);
  const server = await startFixtureServer(catalogue);
  project.provide("manifest", { ...catalogue.manifest, controlUrl: server.url });
  const s3 = await startS3Server(join(root, "s3"));
  project.provide("s3", s3.info);
  const slowS3 = await startThrottleProxy(s3.info.endpoint, { bytesPerSecond: 16 * 1024 * 1024 });
  project.provide("slowS3", slowS3.info);
  // Cuts the first attempt at every multipart upload's second part.
  const flakyS3 = await startThrottleProxy(s3.info.endpoint, { bytesPerSecond: 1024 ** 3, dropFirst: /^PUT \S*[?&]partNumber=2(&|\s)/ });
  project.provide("flakyS3", flakyS3.info);
  const binaries = await startBinaryBucket();
  project.provide("binaryBucketUrl", binaries.url);
  // A fake Analytics Engine SQL API holding a day's points: 7 hits, 3 misses (sampled 1:1), 1 negative;
  // two of the hits five hours ago, the rest now.
  const account = "0123456789abcdef0123456789abcdef";
  const point = (outcome: string, bytes: number, hoursAgo = 0) => ({
    indexes: ["package"],
    blobs: ["package", "", "/package/x", outcome],
    doubles: [200, bytes, 1, 0],
    timestamp: new Date(Date.now() - hoursAgo * 3_600_000),
    sampleInterval: 1,
  });
  const points = [
    ...Array.from({ length: 2 }, () => point("hit", 100, 5)),
    ...Array.from({ length: 5 }, () => point("hit", 100)),
    ...Array.from({ length: 3 }, () => point("miss", 100)),
    point("negative", 0),
  ];
  const analytics = await startAnalyticsSql({ account, token: "fake-analytics-token", dataset: "pkgedge_requests", points });
  project.provide("analyticsSql", {
    url: `${analytics.url}/client/v4/accounts/${account}/analytics_engine/sql`,
    account,
    token: "fake-analytics-token",
  });
  return async () => {
    await analytics.close();
    await binaries.close();
    await flakyS3.close();
    await slowS3.close();
    await s3.close();
    await server.close();
    rmSync(root, { recursive: true, force: true });
  };
}
