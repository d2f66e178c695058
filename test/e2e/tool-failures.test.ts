/**
 * Every operator command explains a failure in one line: the cause in words ("connection refused
 * by …", "DNS lookup failed for …", "bucket … does not exist"), a non-zero exit, and no stack
 * trace. Bad input (an unknown environment, a malformed endpoint, bucket name or account ID, a
 * negative count) is refused before anything is used.
 */

import { describe, expect, inject, it } from "vitest";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { runScript } from "./run-script.ts";
import { freePort } from "../fixtures/wrangler-dev.ts";

const s3 = inject("s3");
const creds = { S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey };
// No Cloudflare credentials of this machine's user: a home of its own.
const noAccount = { HOME: mkdtempSync(join(tmpdir(), "pkgedge-home-")), CLOUDFLARE_API_TOKEN: "", CLOUDFLARE_ACCOUNT_ID: "" };

/** Runs a command and checks it failed the way an operator can act on: one ✗ line matching `said`, no stack. */
async function failsWith(script: string, args: string[], env: Record<string, string>, said: RegExp, code?: number): Promise<void> {
  const { code: exit, output } = await runScript(join("infra", script), args, env);
  expect(exit, output).not.toBe(0);
  if (code !== undefined) expect(exit, output).toBe(code);
  const lines = output.split("\n").filter((l) => l.startsWith("✗"));
  expect(lines.length, output).toBeGreaterThanOrEqual(1);
  expect(lines.join("\n"), output).toMatch(said);
  expect(output, "no stack trace").not.toMatch(/^\s+at .+[:(]/m);
}

describe("operator commands explain a failure in one line", () => {
  it("infra:prefetch: nothing running at its URL, a DNS failure, a negative count", async () => {
    const port = await freePort();
    await failsWith(
      "prefetch.ts",
      ["--url", `http://127.0.0.1:${port}`, "--registry", "latest"],
      {},
      new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`),
      1,
    );
    await failsWith(
      "prefetch.ts",
      ["--url", "http://upstream.invalid", "--registry", "latest"],
      {},
      /DNS lookup failed for upstream\.invalid/,
      1,
    );
    await failsWith(
      "prefetch.ts",
      ["--registry", "latest", "--packages", "-3"],
      {},
      /--packages expects a whole number from 1 to 10000000, got -3/,
      2,
    );
    // A bad bucket name is refused before the upstream is asked (whose DNS failure would hide it).
    await failsWith(
      "prefetch.ts",
      ["--registry", "latest", "--upstream", "http://upstream.invalid", "--to-endpoint", s3.endpoint, "--to-bucket", "Bad_Name"],
      creds,
      /--to-bucket: "Bad_Name" is not a bucket name/,
      2,
    );
  });

  it("smoke: a refused connection and a DNS failure, per step", async () => {
    const port = await freePort();
    await failsWith("smoke.ts", [`http://127.0.0.1:${port}`], {}, /GET \/meta: connection refused by 127\.0\.0\.1/, 1);
    await failsWith("smoke.ts", ["http://mirror.invalid"], {}, /GET \/meta: DNS lookup failed for mirror\.invalid/, 1);
    await failsWith("smoke.ts", ["http://127.0.0.1:6000"], {}, /GET \/meta: fetch refuses that port/, 1);
    // Said once: the steps after it would fail the same way.
    const { output } = await runScript(join("infra", "smoke.ts"), [`http://127.0.0.1:${port}`], {});
    expect(
      output.split("\n").filter((l) => l.startsWith("✗")),
      output,
    ).toHaveLength(1);
  });

  it("infra:bucket and infra:export: unreachable endpoints, a missing bucket, malformed names", async () => {
    const port = await freePort();
    await failsWith(
      "bucket.ts",
      ["--endpoint", `http://127.0.0.1:${port}`, "--bucket", "pkgedge"],
      creds,
      /connection refused by 127\.0\.0\.1/,
      1,
    );
    await failsWith(
      "bucket.ts",
      ["--endpoint", "ftp://example.org", "--bucket", "pkgedge"],
      creds,
      /--endpoint: "ftp:\/\/example\.org" is not an http\(s\) URL/,
      2,
    );
    await failsWith(
      "bucket.ts",
      ["--endpoint", s3.endpoint, "--bucket", "Not_A_Bucket"],
      creds,
      /--bucket: "Not_A_Bucket" is not a bucket name/,
      2,
    );
    const missing = `missing-${Date.now().toString(36)}`;
    await failsWith(
      "export.ts",
      ["--from-endpoint", s3.endpoint, "--from-bucket", missing, "--to-endpoint", s3.endpoint, "--to-bucket", s3.bucket],
      creds,
      new RegExp(`bucket ${missing} does not exist`),
      1,
    );
    await failsWith(
      "export.ts",
      ["--from-endpoint", "http://old.invalid", "--from-bucket", "old", "--to-endpoint", s3.endpoint, "--to-bucket", s3.bucket],
      creds,
      /DNS lookup failed for old\.invalid/,
      1,
    );
  });

  it("provision, deploy and stats: an unknown environment, no login, an unreachable production, a malformed account ID", async () => {
    await failsWith(
      "provision.ts",
      ["--dry-run", "--env", "nope"],
      noAccount,
      /--env must name an environment of wrangler\.toml \(staging, production\)/,
      2,
    );
    await failsWith("provision.ts", [], noAccount, /not logged in to Cloudflare: run `npx wrangler login`/, 1);
    await failsWith("deploy.ts", ["--env", "nope"], noAccount, /--env must name an environment of wrangler\.toml/, 2);
    await failsWith("deploy.ts", ["--env", "production"], noAccount, /neither routes .* nor workers_dev = true/, 2);
    await failsWith(
      "stats.ts",
      [],
      { CLOUDFLARE_ACCOUNT_ID: "not-an-id", CLOUDFLARE_API_TOKEN: "t" },
      /CLOUDFLARE_ACCOUNT_ID: "not-an-id" is not a Cloudflare account ID/,
      2,
    );
  });
});
