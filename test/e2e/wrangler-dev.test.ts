/**
 * The mirror as operators run it: `wrangler dev` with `--var UPSTREAM_SERVERS:…` and
 * `--persist-to`, walked over real HTTP the way Pkg walks it: registry discovery, the registry
 * tarball, every package version it lists, and the artifact a package names. Cold, warm, and
 * after a restart on the same persisted bucket.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstream, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { runScript } from "./run-script.ts";
import { holdsFixture, isZstd, packageVersions, pkgHeaders, registryPackages, unpack } from "./pkg-client.ts";
import { publishBinaries } from "../shared/binaries.ts";

const manifest = inject("manifest");
let up: Upstream;
let dev: WranglerDev;
let persistTo: string;
let vars: Record<string, string>;

beforeAll(async () => {
  up = await createUpstream(manifest.controlUrl, {
    lists: { conservative: `${manifest.snapshots[0]}\n`, eager: `${manifest.snapshots[1]}\n` },
  });
  persistTo = mkdtempSync(join(tmpdir(), "pkgedge-e2e-state-"));
  // The binary mirror on the fixture bucket: the default points at the internet.
  const binaries = await publishBinaries(inject("binaryBucketUrl"), {}, 64 * 1024);
  vars = { UPSTREAM_SERVERS: up.url, BINARY_MIRRORS: `julialang2=${binaries.bucket.url}` };
  dev = await startWranglerDev({ vars, persistTo });
});

afterAll(async () => {
  await dev?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

interface Fetched {
  path: string;
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

async function get(path: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(dev.url + path, { headers: pkgHeaders(dev.url, path), ...init });
  return { path, status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** Walks the mirror as Pkg does and returns every tarball response, checking each against upstream. */
async function walk(): Promise<Fetched[]> {
  const seen: Fetched[] = [];
  const check = async (path: string) => {
    const r = await get(path);
    expect(r.status, path).toBe(200);
    // Pkg 1.13 asks for zstd: once pkgedge made a tarball's variant, that is what it gets.
    expect(r.headers.get("content-type")).toBe(isZstd(r.bytes) ? "application/zstd" : "application/x-gzip");
    expect(r.headers.has("content-encoding"), "never a Content-Encoding").toBe(false);
    expect(r.headers.get("content-length")).toBe(String(r.bytes.length));
    expect(await holdsFixture(manifest.controlUrl, path, r.bytes), `${path} is upstream's tarball (byte-identical when gzip)`).toBe(true);
    seen.push(r);
    return r;
  };

  // 1. Discovery: /registries redirects (CI=t → eager), the list names registry tarballs.
  const redirect = await fetch(`${dev.url}/registries`, { headers: pkgHeaders(dev.url, "/registries"), redirect: "manual" });
  expect(redirect.status).toBe(302);
  const list = await fetch(new URL(redirect.headers.get("location")!, dev.url), { headers: pkgHeaders(dev.url, "/registries") });
  expect(list.status).toBe(200);
  const lines = (await list.text()).trimEnd().split("\n");
  expect(lines).toEqual([manifest.snapshots[1]]);

  // 2. The registry tarball, then every version of every package it lists, then their artifacts.
  for (const line of lines) {
    const registry = unpack((await check(line)).bytes);
    try {
      for (const [uuid, { path }] of registryPackages(registry.read("Registry.toml"))) {
        for (const [, hash] of packageVersions(registry.read(`${path}/Versions.toml`))) {
          const pkg = await check(`/package/${uuid}/${hash}`);
          const tree = unpack(pkg.bytes);
          try {
            for (const m of safeRead(tree, "Artifacts.toml").matchAll(/git-tree-sha1\s*=\s*"([0-9a-f]{40})"/g))
              await check(`/artifact/${m[1]}`);
          } finally {
            tree.remove();
          }
        }
      }
    } finally {
      registry.remove();
    }
  }
  return seen;
}

/** Upstream GETs of tarballs (list revalidations are expected, and not counted). */
async function tarballGets(): Promise<number> {
  return (await up.log()).filter((r) => r.method === "GET" && !r.path.startsWith("/registries")).length;
}

const smoke = (url: string) => runScript("infra/smoke.ts", [url]);

function safeRead(tree: { read(p: string): string }, path: string): string {
  try {
    return tree.read(path);
  } catch {
    return "";
  }
}

describe("wrangler dev against a loopback storage server", () => {
  it("serves cold misses, then warm hits, byte-identical with upstream's", async () => {
    const cold = await walk();
    const tarballs = cold.length;
    expect(tarballs).toBe(1 + 3 + 1 + 1); // registry, Example ×3, Hello_jll, its artifact
    // The registry tarball was stored before the list was published, so it is already a hit.
    expect(cold[0]!.headers.has("x-cache-miss")).toBe(false);
    for (const r of cold.slice(1)) expect(r.headers.get("x-cache-miss"), r.path).toBe("miss");

    await new Promise((r) => setTimeout(r, 1000)); // background commits
    const getsBefore = await tarballGets();
    const warm = await walk();
    for (const r of warm) {
      expect(r.headers.has("x-cache-miss"), r.path).toBe(false);
      expect(r.headers.get("etag")).toMatch(/^"/);
      expect(r.headers.get("cache-control")).toBe("public, max-age=31536000, immutable, no-transform");
    }
    expect(await tarballGets()).toBe(getsBefore);
  });

  it("answers HEAD with the GET's Content-Length, warm and cold (C12, C51)", async () => {
    const warmPath = manifest.snapshots[1]!;
    const head = await fetch(dev.url + warmPath, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(manifest.objects[warmPath]!.size));
    const coldPath = manifest.snapshots[0]!; // advertised only in the conservative list, not yet fetched
    const coldHead = await fetch(dev.url + coldPath, { method: "HEAD" });
    expect(coldHead.status).toBe(200);
    expect(coldHead.headers.get("x-cache-miss")).toBe("miss");
    const coldGet = await get(coldPath);
    expect(coldHead.headers.get("content-length")).toBe(String(coldGet.bytes.length));
  });

  it("keeps its bucket across a restart on the same --persist-to", async () => {
    await dev.stop();
    dev = await startWranglerDev({ vars, persistTo });
    const getsBefore = await tarballGets();
    const after = await walk();
    for (const r of after) expect(r.headers.has("x-cache-miss"), r.path).toBe(false);
    expect(await tarballGets()).toBe(getsBefore);
  });

  it("passes the smoke test operators run after a deploy (npm run smoke)", async () => {
    const ok = await smoke(dev.url);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/✓ GET \/meta/);
    expect(ok.output).toMatch(/✓ registry \/registry\/.* verifies/);
    expect(ok.output).toMatch(/✓ package \/package\/.* verifies/);
    expect(ok.output).toMatch(/✓ binary mirror \/mirror\/julialang2\/bin\/versions\.json lists release files/);
    expect(ok.output).toContain("smoke test passed");
    // Something that is not a working pkgedge fails, and says where.
    const bad = await smoke(`${manifest.controlUrl}/u/nowhere`);
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/✗ GET \/meta: GET \/meta answered 404/);
  });

  it("logs one JSON object per event", () => {
    const events = dev
      .output()
      .split("\n")
      .filter((l) => l.trim().startsWith('{"level"'));
    for (const line of events) expect(() => JSON.parse(line.trim())).not.toThrow();
  });
});
