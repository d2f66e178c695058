/**
 * Where a tarball's encodings live in the bucket: the gzip tarball under its protocol path (the
 * bucket is a static storage server), its zstd variant beside it under `<path>.tar.zst`. Node-side
 * tools read the same names (hence the .ts imports).
 */

import { parseResourcePath, type Resource } from "../protocol/paths.ts";

const ZSTD_SUFFIX = ".tar.zst";

/** Where a tarball's zstd variant is kept: beside it, named for what it holds. */
export function zstdKey(key: string): string {
  return key + ZSTD_SUFFIX;
}

/** The tarball a bucket key holds, and how it is compressed; null for anything else (lists, state, mirror files). */
export function storedTarball(key: string): { resource: Resource; encoding: "gzip" | "zstd" } | null {
  const zstd = key.endsWith(ZSTD_SUFFIX);
  const resource = parseResourcePath("/" + (zstd ? key.slice(0, -ZSTD_SUFFIX.length) : key));
  return resource && { resource, encoding: zstd ? "zstd" : "gzip" };
}
