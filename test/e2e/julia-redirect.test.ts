/**
 * STORED_REDIRECT_BASE with the real client: Julia 1.5.3's Pkg (curl -L, PlatformEngines.jl) adds
 * packages and an artifact through pkgedge under `wrangler dev`, whose stored hits answer 302 to a
 * loopback "bucket domain": a small HTTP server here that serves the bucket's objects by key (the
 * bucket being the local S3 server, as an R2 custom domain serves an R2 bucket). Pkg checks every
 * tree hash itself, so a wrong or missing object fails the run.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { AwsClient } from "aws4fetch";
import { createUpstream, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { freePort, requestLines, startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { haveJulia, installScript, julia } from "./julia-client.ts";

const manifest = inject("manifest");
const s3 = inject("s3");

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
}

/**
 * The bucket's public domain, as a custom domain in front of an R2 bucket behaves for pkgedge's
 * keys: GET and HEAD by key, ranges passed through, 404 for what the bucket lacks. Every request
 * is recorded, with the headers the client sent to it.
 */
async function bucketDomain(bucketUrl: string, client: AwsClient): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url!, "http://x").pathname;
    const headers: Record<string, string> = {};
    if (typeof req.headers.range === "string") headers.range = req.headers.range;
    const answer = await client.fetch(`${bucketUrl}${path}`, { method: req.method === "HEAD" ? "HEAD" : "GET", headers });
    const status = answer.status === 403 ? 404 : answer.status;
    seen.push({ method: req.method!, path, headers: req.headers, status });
    const out: Record<string, string> = {};
    for (const name of ["content-length", "content-range", "etag", "last-modified", "accept-ranges"]) {
      const value = answer.headers.get(name);
      if (value !== null) out[name] = value;
    }
    res.writeHead(status, out);
    if (req.method === "HEAD" || !answer.body || status >= 300) {
      await answer.body?.cancel();
      res.end();
      return;
    }
    Readable.fromWeb(answer.body as import("node:stream/web").ReadableStream).pipe(res);
  });
  const port = await freePort();
  await new Promise<void>((ready) => server.listen(port, "127.0.0.1", ready));
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((done) => server.close(() => done())) };
}

describe.skipIf(!haveJulia)("Julia 1.5's Pkg follows pkgedge's redirects of stored hits to the bucket's domain", () => {
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, service: "s3", region: "us-east-1" });
  const bucket = `cdn-${crypto.randomUUID().slice(0, 18)}`;
  const bucketUrl = `${s3.endpoint}/${bucket}`;
  let up: Upstream;
  let dev: WranglerDev;
  let domain: Awaited<ReturnType<typeof bucketDomain>>;
  let persistTo: string;
  const snapshot = () => manifest.snapshots[1]!;
  const artifactHash = () => manifest.objects[manifest.artifact]!.treeHash;

  beforeAll(async () => {
    const created = await client.fetch(bucketUrl, { method: "PUT" });
    expect(created.status).toBe(200);
    const list = `${snapshot()}\n`;
    up = await createUpstream(manifest.controlUrl, { lists: { eager: list, conservative: list } });
    domain = await bucketDomain(bucketUrl, client);
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-julia-redirect-"));
    dev = await startWranglerDev({
      vars: {
        UPSTREAM_SERVERS: up.url,
        STORED_REDIRECT_BASE: domain.url,
        STORAGE: "s3",
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: bucket,
        S3_REGION: "us-east-1",
        S3_FORCE_PATH_STYLE: "true",
        // Julia 1.5 would be sent the variant only if it asked for zstd; it never does.
        ZSTD: "off",
      },
      secrets: { S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey },
      persistTo,
    });
  });

  afterAll(async () => {
    await dev?.stop();
    await domain?.close();
    if (persistTo) rmSync(persistTo, { recursive: true, force: true });
  });

  const script = () => installScript(artifactHash());

  async function install(): Promise<{ output: string; lines: Record<string, unknown>[] }> {
    const { code, output } = await julia(dev.url, script());
    if (code !== 0) console.log(output);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Installed Example .* v0\.5\.3/);
    expect(output).not.toMatch(/Cloning|could not download|does not match expected hash/);
    expect(output).toContain("HELLO=Hello, pkgedge");
    expect(output).toContain("ARTIFACT=true");
    await new Promise((r) => setTimeout(r, 500)); // access-log lines are written once a body was delivered
    return { output, lines: requestLines(dev.output()) };
  }

  const tarball = (path: unknown) => /^\/(package|artifact|registry)\//.test(String(path));

  it("cold: packages and artifacts are misses streamed by pkgedge, never redirected", async () => {
    const { lines } = await install();
    const filled = lines.filter((l) => /^\/(package|artifact)\//.test(String(l.path)) && l.method === "GET");
    expect(filled.length).toBeGreaterThanOrEqual(2);
    for (const l of filled) expect(l.cache, String(l.path)).toMatch(/^(miss|joined)$/);
    // The registry tarball is stored before a list names it (registries/publish), so even the
    // first client may be redirected for it; nothing else reached the bucket's domain.
    const registries = new Set(lines.filter((l) => String(l.path).startsWith("/registry/") && l.cache === "redirect").map((l) => l.path));
    expect(domain.seen.filter((s) => !registries.has(s.path))).toEqual([]);
  });

  it("warm: each stored tarball is a 302 to the bucket's domain, which Pkg follows and verifies", async () => {
    const before = requestLines(dev.output()).length;
    const { output } = await install();
    const lines = requestLines(dev.output()).slice(before);
    const redirects = lines.filter((l) => tarball(l.path) && l.method === "GET");
    expect(redirects.length).toBeGreaterThanOrEqual(3);
    for (const l of redirects) expect(l, String(l.path)).toMatchObject({ status: 302, cache: "redirect", bytes: 0 });
    // Julia's own request for Example's package, logged by pkgedge with the client's headers.
    const version = /JULIA_VERSION=(\S+)/.exec(output)?.[1];
    const example = redirects.find((l) => String(l.path).startsWith(`/package/${manifest.example.uuid}/`));
    expect(example).toMatchObject({ julia_version: version });
    // The bucket's domain served each redirected key whole, to the client that was redirected.
    const served = domain.seen.filter((s) => s.method === "GET" && s.status === 200).map((s) => s.path);
    for (const l of redirects) expect(served, String(l.path)).toContain(l.path);
    expect(domain.seen.filter((s) => s.status !== 200)).toEqual([]);
    // curl -H sends its headers on every request of a transfer, the redirected one too (only
    // Authorization and cookies are withheld from another host): the bucket's domain sees Julia-*.
    const exampleAtDomain = domain.seen.find((s) => s.path === example!.path);
    expect(exampleAtDomain?.headers["julia-version"]).toBe(version);
    expect(exampleAtDomain?.headers.authorization).toBeUndefined();
  });
});
