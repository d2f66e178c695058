/**
 * The commit rule (protocol.md §6.3.5, §7.4): which computed hashes make a tarball acceptable under the
 * name it was requested by.
 */

import type { ResourceKind } from "../protocol/paths.ts";
import type { TreeHashes } from "./tree.ts";

export type Acceptance = { ok: true; matched: "no-skip" | "skip" } | { ok: false; reason: string };

export function acceptTreeHash(kind: ResourceKind, requested: string, hashes: TreeHashes): Acceptance {
  if (kind === "registry") {
    // Pkg checks registries with Tar.jl's default (no-skip) and looks up the raw path "Registry.toml".
    if (requested !== hashes.noSkip) return { ok: false, reason: "registry tree hash mismatch (no-skip)" };
    if (!hashes.registryTomlAtRoot) return { ok: false, reason: "registry tarball has no Registry.toml at its root" };
    return { ok: true, matched: "no-skip" };
  }
  // Packages and artifacts are checked on disk by Pkg, which skips empty directories; historic
  // artifacts were named by either hash (PkgServer.jl#50).
  if (requested === hashes.noSkip) return { ok: true, matched: "no-skip" };
  if (requested === hashes.skip) return { ok: true, matched: "skip" };
  return { ok: false, reason: "tree hash mismatch" };
}
