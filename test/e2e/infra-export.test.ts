/** `npm run infra:export` against the local SigV4-checking S3 server: what it copies, refuses and removes. */

import { describe, expect, inject, it } from "vitest";
import { AwsClient } from "aws4fetch";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, zstdCompressSync } from "node:zlib";
import "../shared/manifest.ts";
import { fixtureBytes } from "../shared/control.ts";
import { gitTreeHash, tarGz, writeTree } from "../fixtures/tarballs.ts";
import { runScript } from "./run-script.ts";

const s3 = inject("s3");

const run = (script: string, args: string[], env: Record<string, string>) => runScript(join("infra", script), args, env);

const creds = { S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey };

/** `npm run infra:export` from a bucket on the S3 server into one at `toEndpoint` (the same server unless a proxy is given). */
const exportBucket = (from: string, to: string, toEndpoint = s3.endpoint, env: Record<string, string> = creds) =>
  run("export.ts", ["--from-endpoint", s3.endpoint, "--from-bucket", from, "--to-endpoint", toEndpoint, "--to-bucket", to], env);

/**
 * The S3 server behind a proxy that applies If-Match to DELETE as S3 does (the local server ignores
 * it), calling `beforeDelete` first so a test can write in between a check and a delete; and that
 * can cut every GET's body off after `cutGetsAfter` bytes (a connection that drops).
 */
async function destinationProxy(
  endpoint: string,
  options: { beforeDelete?: () => Promise<void>; cutGetsAfter?: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });
  const server = createServer(async (req, res) => {
    const target = new URL(req.url!, endpoint);
    const ifMatch = req.headers["if-match"];
    if (req.method === "DELETE") {
      await options.beforeDelete?.();
      const current = await client.fetch(target, { method: "HEAD" });
      if (ifMatch !== undefined && current.headers.get("etag") !== ifMatch) {
        res.writeHead(412, { "content-type": "application/xml" }).end("<Error><Code>PreconditionFailed</Code></Error>");
        return;
      }
    }
    const cut = req.method === "GET" && target.pathname.split("/").length > 2 ? options.cutGetsAfter : undefined;
    // Passed on as signed: the Host header stays the proxy's, which the signature covers.
    const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      if (cut === undefined || answer.statusCode !== 200) return void answer.pipe(res);
      let sent = 0;
      answer.on("data", (chunk: Buffer) => {
        if (sent >= cut) return;
        res.write(chunk.subarray(0, cut - sent));
        sent += Math.min(chunk.length, cut - sent);
        if (sent >= cut) res.destroy();
      });
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

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

  it("copies zstd variants that decode to their resource's tree and refuses the rest: another tree, gzip bytes, a 2 GiB window", async () => {
    const source = `src-zstd-${Date.now().toString(36)}`;
    const target = `dst-zstd-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const zstdOf = async (path: string) => new Uint8Array(zstdCompressSync(gunzipSync(await fixtureBytes(manifest.controlUrl, path))));
    const pkg = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
    const good = `${manifest.artifact.slice(1)}.tar.zst`;
    const variants: Record<string, Uint8Array> = {
      [good]: await zstdOf(manifest.artifact),
      [`${pkg.slice(1)}.tar.zst`]: await zstdOf(pkg),
      [`${manifest.bigArtifact.slice(1)}.tar.zst`]: await zstdOf(manifest.artifact), // another tree
      [`${manifest.largeArtifact.slice(1)}.tar.zst`]: await fixtureBytes(manifest.controlUrl, manifest.largeArtifact), // gzip
      [`${manifest.snapshots[0]!.slice(1)}.tar.zst`]: Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0, 0]),
    };
    for (const [key, body] of Object.entries(variants)) await put(source, key, body);

    const r = await exportBucket(source, target);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/copied 2 objects .* 3 failed/);
    expect(await get(target, good)).toEqual(variants[good]);
    expect(await get(target, `${pkg.slice(1)}.tar.zst`)).toEqual(variants[`${pkg.slice(1)}.tar.zst`]);
    expect(r.output).toContain(`✗ ${manifest.bigArtifact.slice(1)}.tar.zst: tree hash mismatch`);
    expect(r.output).toMatch(new RegExp(`✗ ${manifest.largeArtifact.slice(1)}.tar.zst: not a valid zstd tarball: .*magic`));
    expect(r.output).toMatch(
      new RegExp(`✗ ${manifest.snapshots[0]!.slice(1)}.tar.zst: could not be verified here: .*ZSTD_MAX_WINDOW_BYTES`),
    );
    for (const key of Object.keys(variants).slice(2)) expect(await get(target, key), key).toBeNull();
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

    const r = await exportBucket(source, target);
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

    const byDefault = await exportBucket(source, target);
    expect(byDefault.code, byDefault.output).toBe(1);
    expect(await get(target, key), byDefault.output).toEqual(bytes);
    expect(byDefault.output).toMatch(
      new RegExp(`✗ ${key}: tree hash mismatch; the destination's own copy could not be checked \\(.*VERIFY_MAX_RATIO.*\\) and is kept`),
    );

    const asConfigured = await exportBucket(source, target, s3.endpoint, { ...creds, VERIFY_MAX_RATIO: "2000" });
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
    const proxy = await destinationProxy(s3.endpoint, { beforeDelete: () => put(target, key, good) });
    try {
      const r = await exportBucket(source, target, proxy.url);
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
    const r = await exportBucket(source, target);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toContain(`✗ mirror/julialang2/bin/bad.tar.gz: sha256 ${sha256} is not the ${"0".repeat(64)} it was stored with`);
    expect(await get(target, "mirror/julialang2/bin/bad.tar.gz")).toBeNull();
    expect(new TextDecoder().decode((await get(target, "mirror/julialang2/bin/good.tar.gz"))!)).toBe(body);
  });

  it("keeps a destination copy it could not read whole, however wrong it may be", async () => {
    const source = `src-cut-${Date.now().toString(36)}`;
    const target = `dst-cut-${Date.now().toString(36)}`;
    await createBucket(source);
    await createBucket(target);
    const key = manifest.artifact.slice(1);
    const stale = "<html>an earlier run's error page, long enough to be cut off part way</html>";
    await put(source, key, "<html>the old mirror's error page</html>");
    await put(target, key, stale);
    const proxy = await destinationProxy(s3.endpoint, { cutGetsAfter: 20 });
    try {
      const r = await exportBucket(source, target, proxy.url);
      expect(r.code, r.output).toBe(1);
      expect(new TextDecoder().decode((await get(target, key))!), r.output).toBe(stale);
      expect(r.output).toMatch(
        new RegExp(`✗ ${key}: not a valid gzipped tarball: .*; the destination's own copy could not be (checked|read whole)`),
      );
    } finally {
      await proxy.close();
    }
  });

  it("refuses to copy a bucket onto itself, however the endpoint is spelled", async () => {
    const bucket = `self-${Date.now().toString(36)}`;
    await createBucket(bucket);
    await put(bucket, `artifact/${"4".repeat(40)}`, "not a tarball");
    for (const to of [s3.endpoint, `${s3.endpoint.toUpperCase().replace("HTTP", "http")}/`]) {
      const r = await exportBucket(bucket, bucket, to);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/name the same bucket .* refusing to copy a bucket onto itself/);
    }
    expect(new TextDecoder().decode((await get(bucket, `artifact/${"4".repeat(40)}`))!)).toBe("not a tarball");
  });
});
