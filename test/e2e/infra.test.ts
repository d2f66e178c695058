/** The operator tooling in infra/, against the local SigV4-checking S3 server. */

import { describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { join } from "node:path";
import "../shared/manifest.ts";
import { REPO } from "../fixtures/wrangler-dev.ts";

const s3 = inject("s3");

function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(REPO, "node_modules", ".bin", "node"), [join(REPO, "infra", script), ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

const creds = { S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey };

describe("npm run infra:bucket", () => {
  it("creates a missing bucket with --create, probes it, and validates it again", async () => {
    const bucket = `infra-${Date.now().toString(36)}`;
    const missing = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", bucket], creds);
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toMatch(/does not exist .*--create/);

    const created = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", bucket, "--create"], creds);
    expect(created.code, created.output).toBe(0);
    expect(created.output).toMatch(/bucket .* created/);
    expect(created.output).toMatch(/write, read and delete work/);
    expect(created.output).toMatch(/conditional writes/); // the local server's answer is reported either way
    expect(created.output).toMatch(/lifecycle rule/);

    const again = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", bucket], creds);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/exists/);
  });

  it("says which variables to check when the credentials are wrong", async () => {
    const bad = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", s3.bucket], { ...creds, S3_SECRET_ACCESS_KEY: "wrong" });
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
  });

  it("names a missing setting", async () => {
    const noSecret = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", s3.bucket], { S3_ACCESS_KEY_ID: "x", S3_SECRET_ACCESS_KEY: "" });
    expect(noSecret.code).toBe(1);
    expect(noSecret.output).toMatch(/S3_SECRET_ACCESS_KEY is not set/);
  });
});
