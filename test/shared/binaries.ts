/**
 * A small Julia binary bucket for the mirror's tests: a versions.json listing two release files
 * (one whose bytes are not what it lists), juliaup's pointer file and version database naming a
 * release, a file versions.json does not list, and a nightly.
 */

import { createBinaryBucket, type BinaryBucket, type BucketSettings } from "./binary-bucket.ts";

export const RELEASE = "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz";
/** Listed in versions.json with a sha256 its bytes do not have. */
export const TAMPERED = "bin/linux/x64/1.10/julia-1.10.4-linux-i686.tar.gz";
/** Listed with a size its upstream does not announce. */
export const MISSIZED = "bin/linux/aarch64/1.10/julia-1.10.4-linux-aarch64.tar.gz";
/** A release file versions.json does not list (a signature). */
export const UNLISTED = "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz.asc";
export const NIGHTLY = "bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz";
export const DBVERSION = "juliaup/RELEASECHANNELDBVERSION";
export const VERSIONDB = "juliaup/versiondb/versiondb-1.0.17-x86_64-unknown-linux-gnu.json";

export function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
  return bytes;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export interface Published {
  bucket: BinaryBucket;
  files: Record<string, Uint8Array>;
}

/** Publishes the fixture bucket on the fixture bucket server at `controlUrl`; `size` is each tarball's length. */
export async function publishBinaries(controlUrl: string, settings: BucketSettings = {}, size = 300 * 1024): Promise<Published> {
  const bucket = await createBinaryBucket(controlUrl, settings);
  const files: Record<string, Uint8Array> = {
    [RELEASE]: randomBytes(size),
    [TAMPERED]: randomBytes(size),
    [MISSIZED]: randomBytes(size),
    [UNLISTED]: new TextEncoder().encode("-----BEGIN PGP SIGNATURE-----\n...\n"),
    [NIGHTLY]: randomBytes(size),
  };
  const url = (path: string) => `https://julialang-s3.julialang.org/${path}`;
  const entry = async (path: string, bytes: Uint8Array, overrides: Record<string, unknown> = {}) => ({
    url: url(path),
    triplet: "x86_64-linux-gnu",
    kind: "archive",
    os: "linux",
    arch: "x86_64",
    version: "1.10.4",
    extension: "tar.gz",
    sha256: await sha256Hex(bytes),
    size: bytes.length,
    ...overrides,
  });
  const versions = {
    "1.10.4": {
      stable: true,
      files: [
        await entry(RELEASE, files[RELEASE]!),
        await entry(TAMPERED, files[TAMPERED]!, { sha256: "0".repeat(64) }),
        await entry(MISSIZED, files[MISSIZED]!, { size: size + 1 }),
      ],
    },
  };
  files["bin/versions.json"] = new TextEncoder().encode(JSON.stringify(versions));
  files[DBVERSION] = new TextEncoder().encode("1.0.17\n");
  files[VERSIONDB] = new TextEncoder().encode(
    JSON.stringify({
      Version: "1.0.17",
      AvailableVersions: { "1.10.4+0.x64.linux.gnu": { UrlPath: RELEASE } },
      AvailableChannels: { release: { Version: "1.10.4+0.x64.linux.gnu" }, lts: { Version: "1.10.4+0.x64.linux.gnu" } },
    }),
  );
  for (const [path, bytes] of Object.entries(files)) {
    await bucket.put(
      path,
      bytes,
      path.endsWith(".json") ? "application/json" : path.endsWith(".tar.gz") ? "application/x-gzip" : "text/plain",
    );
  }
  return { bucket, files };
}
