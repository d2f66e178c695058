/**
 * `npm run smoke -- URL`: checks a running pkgedge the way a Julia client uses it, after a deploy
 * or against `wrangler dev`. GET /meta; GET /registries following redirects with Pkg's headers;
 * download each registry it lists and one package that registry names; verify every tree hash;
 * when /meta shows the julialang2 binary mirror, GET its bin/versions.json and check it is one;
 * report timings. Exits non-zero, with the reason, on any failure.
 */

import { describeFailure } from "./lib/failure.ts";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRegistryList, parseResourcePath, type Resource } from "../worker/protocol/paths.ts";
import { indexVersions } from "../worker/mirror/versions.ts";
import { parseCommand } from "./cli.ts";
import { verifyTarball, workerVerifyLimits } from "./lib/tarball.ts";

const { positionals } = parseCommand({
  usage: "npm run smoke -- URL",
  options: {},
  positionals: true,
  help: ["URL              the mirror to check (its JULIA_PKG_SERVER address)"],
  example: "npm run smoke -- https://pkg.example.org",
});
const base = (positionals[0] ?? "").replace(/\/+$/, "");
if (!/^https?:\/\//.test(base) || positionals.length > 1) {
  console.error("✗ expected one http(s) URL (npm run smoke -- --help)");
  process.exit(2);
}

// The worker's verifier limits, as the operator's environment sets them (a bad value stops here).
const limits = (() => {
  try {
    return workerVerifyLimits();
  } catch (err) {
    console.error(`✗ ${describeFailure(err)}`);
    return process.exit(2);
  }
})();

const headers = {
  "Julia-Pkg-Protocol": "1.0",
  "Julia-Pkg-Server": base,
  "Julia-Version": "1.13.0",
  "Julia-Interactive": "false",
  "User-Agent": "pkgedge-smoke",
};

let failed = false;
/** The last step's failure when no HTTP answer came at all (refused, DNS, TLS, timeout): fetch's own error. */
let unreachable = false;
async function step<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  const start = performance.now();
  try {
    const value = await fn();
    console.log(`✓ ${name} (${(performance.now() - start).toFixed(0)} ms)`);
    return value;
  } catch (err) {
    failed = true;
    unreachable = err instanceof TypeError || (err instanceof DOMException && err.name === "TimeoutError");
    console.error(`✗ ${name}: ${describeFailure(err)}`);
    return undefined;
  }
}

async function get(path: string, extra: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(base + path, { headers: { ...headers, ...extra }, signal: AbortSignal.timeout(120_000) });
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
  return res;
}

/** The encoding a tarball's magic bytes say it has, as Pkg 1.13 sniffs it. */
function sniff(bytes: Uint8Array): "gzip" | "zstd" | null {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return "gzip";
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return "zstd";
  return null;
}

/** One download checked as Pkg checks it: no Content-Encoding, the whole length, an encoding it unpacks, the tree hash. */
async function download(
  path: string,
  resource: Resource,
  acceptEncoding: string | null,
): Promise<{ bytes: Uint8Array; encoding: "gzip" | "zstd" }> {
  const res = await get(path, acceptEncoding ? { "Accept-Encoding": acceptEncoding } : {});
  const asked = acceptEncoding ? ` (Accept-Encoding: ${acceptEncoding})` : "";
  if (res.headers.has("content-encoding"))
    throw new Error(`${path}${asked} came with Content-Encoding ${res.headers.get("content-encoding")}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.headers.has("content-length") && Number(res.headers.get("content-length")) !== bytes.length)
    throw new Error(`${path}${asked}: Content-Length says ${res.headers.get("content-length")}, got ${bytes.length}`);
  const encoding = sniff(bytes);
  if (!encoding || (encoding === "zstd" && !acceptEncoding))
    throw new Error(`${path}${asked} is not gzip${acceptEncoding ? " or zstd" : ""}`);
  const verdict = await verifyTarball(new Blob([bytes]).stream(), resource, limits, encoding);
  if (!verdict.ok) {
    const computed = verdict.hashes ? ` (no-skip ${verdict.hashes.noSkip}, skip ${verdict.hashes.skip})` : "";
    throw new Error(`${path}${asked}: ${encoding}: ${verdict.reason}${computed}`);
  }
  return { bytes, encoding };
}

/**
 * Downloads a tarball as Julia 1.12 and older do (gzip, no Accept-Encoding) and as 1.13 does
 * (`zstd, gzip`: either, sniffed), checking each as Pkg would; returns the gzip bytes.
 */
async function tarball(path: string): Promise<Uint8Array> {
  const resource = parseResourcePath(path);
  if (!resource) throw new Error(`${path} is not a resource path`);
  const { bytes } = await download(path, resource, null);
  const current = await download(path, resource, "zstd, gzip");
  if (current.encoding === "zstd") console.log(`✓ ${path} as zstd verifies`);
  return bytes;
}

/** The first package version a registry tarball names: path and tree hash, read with tar. */
function firstPackage(registry: Uint8Array): string | null {
  const dir = mkdtempSync(join(tmpdir(), "pkgedge-smoke-"));
  try {
    writeFileSync(join(dir, "registry.tar.gz"), registry);
    execFileSync("tar", ["-xzf", join(dir, "registry.tar.gz"), "-C", dir]);
    const toml = readFileSync(join(dir, "Registry.toml"), "utf8");
    const section = toml.split(/^\[packages\]\s*$/m)[1] ?? "";
    for (const m of section.matchAll(/^([0-9a-f-]{36})\s*=\s*\{[^}]*path\s*=\s*"([^"]+)"/gm)) {
      const versions = readFileSync(join(dir, m[2]!, "Versions.toml"), "utf8");
      const hash = /git-tree-sha1\s*=\s*"([0-9a-f]{40})"/.exec(versions)?.[1];
      if (hash) return `/package/${m[1]}/${hash}`;
    }
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`smoke test of ${base}`);
const meta = await step("GET /meta", async () => {
  const meta = (await (await get("/meta")).json()) as { pkgedge_version?: string; binary_mirrors?: { name: string }[] };
  if (!meta.pkgedge_version) throw new Error("no pkgedge_version in /meta");
  return meta;
});
// A server that cannot be reached fails every step the same way: said once.
if (!meta && unreachable) {
  console.log("smoke test FAILED");
  process.exit(1);
}
const list = await step("GET /registries (following redirects)", async () => {
  const text = await (await get("/registries")).text();
  const refs = parseRegistryList(text);
  if (refs.length === 0) throw new Error(`no registry lines in ${JSON.stringify(text.slice(0, 200))}`);
  return refs;
});
for (const ref of list ?? []) {
  const path = `/registry/${ref.uuid}/${ref.treeHash}`;
  const registry = await step(`registry ${path} verifies`, () => tarball(path));
  const pkg = registry && firstPackage(registry);
  if (pkg) await step(`package ${pkg} verifies`, () => tarball(pkg));
}
if (meta?.binary_mirrors?.some((m) => m.name === "julialang2")) {
  await step("binary mirror /mirror/julialang2/bin/versions.json lists release files", async () => {
    const res = await get("/mirror/julialang2/bin/versions.json");
    const files = indexVersions(await res.text()).size;
    if (files === 0) throw new Error("it lists no file with a sha256 and size");
    return files;
  });
}
console.log(failed ? "smoke test FAILED" : "smoke test passed");
process.exit(failed ? 1 : 0);
