/**
 * What a Pkg client does against a Pkg server, in plain HTTP: the headers it sends (protocol.md §8.2),
 * the registry discovery, and reading a registry tarball to find package versions.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { fixtureBytes } from "../shared/control.ts";

/** Headers a current Pkg (Julia 1.13 era) sends to its server. */
export function pkgHeaders(server: string, path: string): Record<string, string> {
  const headers: Record<string, string> = {
    "Julia-Pkg-Protocol": "1.0",
    "Julia-Pkg-Server": server,
    "Julia-Version": "1.13.0",
    "Julia-System": "x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.13.0",
    "Julia-CI-Variables":
      "APPVEYOR=n;CI=t;CI_SERVER=n;CIRCLECI=n;CONTINUOUS_INTEGRATION=n;GITHUB_ACTIONS=t;GITLAB_CI=n;JULIA_CI=n;JULIA_PKGEVAL=n;JULIA_REGISTRYCI_AUTOMERGE=n;TF_BUILD=n;TRAVIS=n",
    "Julia-Interactive": "false",
    "User-Agent": "curl/8.11.1 julia/1.13",
  };
  if (/\/(registry|package|artifact)\//.test(path)) headers["Accept-Encoding"] = "zstd, gzip";
  return headers;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Whether a tarball's bytes are zstd, by its magic (as Pkg 1.13 tells: it ignores the headers). */
export function isZstd(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 4)).equals(ZSTD_MAGIC);
}

/**
 * Whether `body`, a tarball pkgedge served for `path`, holds the fixture's tarball: its very bytes
 * when gzip, or exactly the tar they hold when zstd (what a Julia 1.13 client may be given).
 */
export async function holdsFixture(controlUrl: string, path: string, body: Uint8Array): Promise<boolean> {
  const fixture = Buffer.from(await fixtureBytes(controlUrl, path));
  if (!isZstd(body)) return fixture.equals(Buffer.from(body));
  return zstdDecompressSync(body).equals(gunzipSync(fixture));
}

/** Unpacks a tarball, gzip or zstd (sniffed), into a new temporary directory (with the system's tar, as 7z would). */
export function unpack(bytes: Uint8Array): { dir: string; read(path: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "pkgedge-unpack-"));
  const file = join(dir, "..", `${dir.split("/").pop()}.tar`);
  writeFileSync(file, isZstd(bytes) ? zstdDecompressSync(bytes) : gunzipSync(bytes));
  execFileSync("tar", ["-xf", file, "-C", dir]);
  rmSync(file);
  return {
    dir,
    read: (path) => readFileSync(join(dir, path), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `[packages]` of a Registry.toml: uuid → { name, path }. Reads the one-line inline tables registries use. */
export function registryPackages(registryToml: string): Map<string, { name: string; path: string }> {
  const packages = new Map<string, { name: string; path: string }>();
  const section = registryToml.split(/^\[packages\]\s*$/m)[1] ?? "";
  for (const m of section.matchAll(/^([0-9a-f-]{36})\s*=\s*\{\s*name\s*=\s*"([^"]+)"\s*,\s*path\s*=\s*"([^"]+)"\s*\}/gm)) {
    packages.set(m[1]!, { name: m[2]!, path: m[3]! });
  }
  return packages;
}

/** Versions.toml: version → git-tree-sha1. */
export function packageVersions(versionsToml: string): Map<string, string> {
  const versions = new Map<string, string>();
  for (const m of versionsToml.matchAll(/^\["([^"]+)"\]\s*\ngit-tree-sha1\s*=\s*"([0-9a-f]{40})"/gm)) versions.set(m[1]!, m[2]!);
  return versions;
}
