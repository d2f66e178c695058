/**
 * The artifacts a package version names, from the Artifacts.toml (or JuliaArtifacts.toml) at the
 * root of its tarball, as Pkg reads them: `[name]` for one platform-independent artifact, `[[name]]`
 * for one entry per platform (os, arch, libc, …), each with a `git-tree-sha1`, perhaps `lazy`, and
 * `[[name.download]]` tables that pkgedge does not need.
 *
 * Shared with the operator tools in Node, hence the `.ts` imports.
 */

import { readTarGz, textFiles } from "./tarball.ts";

export interface ArtifactEntry {
  name: string;
  treeHash: string;
  lazy: boolean;
  /** The platform triple (`x86_64-linux-gnu`), or null for an artifact every platform uses. */
  platform: string | null;
}

/** Artifacts.toml files are small; this bounds what one package can make pkgedge hold. */
const MAX_ARTIFACTS_TOML_BYTES = 1024 * 1024;
const ARTIFACTS_FILES = ["JuliaArtifacts.toml", "Artifacts.toml"];

/** The triple Julia's Base.BinaryPlatforms writes for these keys (the part prefetch filters on). */
export function platformTriple(keys: Record<string, string>): string | null {
  const { os, arch } = keys;
  if (!os || !arch) return null;
  switch (os) {
    case "linux":
      return `${arch}-linux-${keys.libc === "musl" ? "musl" : "gnu"}${arch.startsWith("armv") ? "eabihf" : ""}`;
    case "macos":
      return `${arch}-apple-darwin`;
    case "windows":
      return `${arch}-w64-mingw32`;
    case "freebsd":
      return `${arch}-unknown-freebsd`;
    default:
      return `${arch}-${os}`;
  }
}

function unquote(value: string): string {
  const v = value.trim();
  return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

export function parseArtifactsToml(text: string): ArtifactEntry[] {
  const out: ArtifactEntry[] = [];
  let entry: { name: string; keys: Record<string, string> } | null = null;
  let inDownload = false;
  const flush = () => {
    const hash = entry?.keys["git-tree-sha1"];
    if (entry && hash && /^[0-9a-f]{40}$/.test(hash))
      out.push({ name: entry.name, treeHash: hash, lazy: entry.keys.lazy === "true", platform: platformTriple(entry.keys) });
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[\[?\s*("[^"]+"|[A-Za-z0-9_-]+)(\.download)?\s*\]?\]$/.exec(line);
    if (header) {
      if (header[2]) {
        inDownload = true;
        continue;
      }
      flush();
      entry = { name: unquote(header[1]!), keys: {} };
      inDownload = false;
      continue;
    }
    if (!entry || inDownload) continue;
    const kv = /^("[^"]+"|[A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(line);
    if (kv) entry.keys[unquote(kv[1]!)] = unquote(kv[2]!);
  }
  flush();
  return out;
}

/** Which entries to prefetch: those for the platforms asked for (all when none are), lazy ones only if wanted. */
export function chooseArtifacts(entries: ArtifactEntry[], platforms: readonly string[], lazy: boolean): ArtifactEntry[] {
  return entries.filter((e) => (lazy || !e.lazy) && (platforms.length === 0 || e.platform === null || platforms.includes(e.platform)));
}

/** The artifacts a gzipped package tarball names (none when it has no Artifacts.toml). */
export async function artifactsOf(gzipped: ReadableStream<Uint8Array>): Promise<ArtifactEntry[]> {
  const found = new Map<string, string>();
  await readTarGz(
    gzipped,
    textFiles(
      (path) => ARTIFACTS_FILES.includes(path),
      MAX_ARTIFACTS_TOML_BYTES,
      (path, text) => found.set(path, text),
    ),
  );
  // Pkg reads JuliaArtifacts.toml when a package has both.
  const text = ARTIFACTS_FILES.map((f) => found.get(f)).find((t) => t !== undefined);
  return text === undefined ? [] : parseArtifactsToml(text);
}
