/**
 * What a registry snapshot lists, read from its gzipped tarball as it streams (the verifier's tar
 * reader, no tree held): per package directory, its UUID (Package.toml) and the tree hash of every
 * version (Versions.toml). Only those two small files of each directory are kept, and only until
 * the directory is complete, so General (tens of thousands of entries) reads in constant memory
 * apart from what the caller keeps.
 *
 * Shared with the operator tools in Node, hence the `.ts` imports.
 */

import { readTarGz, textFiles } from "./tarball.ts";

/** A package version a snapshot lists: what `/package/<uuid>/<treeHash>` serves. */
export interface ListedVersion {
  uuid: string;
  treeHash: string;
  /** The package's name and the version number, for people reading progress. */
  name: string;
  version: string;
}

/** Package.toml and Versions.toml are a few KiB; anything this large is not a registry's. */
const MAX_METADATA_BYTES = 4 * 1024 * 1024;

/** `uuid = "…"` at the top level of a Package.toml. */
export function packageUuid(text: string): string | null {
  for (const line of text.split("\n")) {
    if (line.trimStart().startsWith("[")) break;
    const m = /^\s*uuid\s*=\s*"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"\s*$/.exec(line);
    if (m) return m[1]!;
  }
  return null;
}

/** The versions of a Versions.toml that can be installed: `["x.y.z"]` tables with a tree hash, not yanked. */
export function packageVersions(text: string): { version: string; treeHash: string }[] {
  return versionEntries(text)
    .filter((v) => !v.yanked)
    .map(({ version, treeHash }) => ({ version, treeHash }));
}

/** Every `["x.y.z"]` table of a Versions.toml with a tree hash, yanked ones included (and marked). */
function versionEntries(text: string): { version: string; treeHash: string; yanked: boolean }[] {
  const out: { version: string; treeHash: string; yanked: boolean }[] = [];
  let current: { version: string; treeHash: string | null; yanked: boolean } | null = null;
  const flush = () => {
    if (current?.treeHash) out.push({ version: current.version, treeHash: current.treeHash, yanked: current.yanked });
  };
  for (const line of text.split("\n")) {
    const table = /^\s*\["([^"]+)"\]\s*$/.exec(line);
    if (table) {
      flush();
      current = { version: table[1]!, treeHash: null, yanked: false };
      continue;
    }
    if (!current) continue;
    const hash = /^\s*git-tree-sha1\s*=\s*"([0-9a-f]{40})"\s*$/.exec(line);
    if (hash) current.treeHash = hash[1]!;
    if (/^\s*yanked\s*=\s*true\s*$/.test(line)) current.yanked = true;
  }
  flush();
  return out;
}

/**
 * Calls `visit` for every installable package version the gzipped registry tarball lists (with
 * `yanked`, the yanked ones too).
 */
export async function readSnapshot(
  gzipped: ReadableStream<Uint8Array>,
  visit: (version: ListedVersion) => void,
  { yanked = false }: { yanked?: boolean } = {},
): Promise<void> {
  // A package directory is complete once both files are read (tar keeps a directory's entries together).
  const pending = new Map<string, { uuid?: string | null; versions?: { version: string; treeHash: string }[] }>();
  const sink = textFiles(
    (path) => /[^/]\/(Package|Versions)\.toml$/.test(path),
    MAX_METADATA_BYTES,
    (path, text) => {
      const slash = path.lastIndexOf("/");
      const dir = path.slice(0, slash);
      const seen = pending.get(dir) ?? {};
      if (path.endsWith("/Package.toml")) seen.uuid = packageUuid(text);
      else seen.versions = yanked ? versionEntries(text) : packageVersions(text);
      if (seen.uuid === undefined || seen.versions === undefined) {
        pending.set(dir, seen);
        return;
      }
      pending.delete(dir);
      if (seen.uuid === null) return; // not a package directory
      const name = dir.slice(dir.lastIndexOf("/") + 1);
      for (const v of seen.versions) visit({ uuid: seen.uuid, treeHash: v.treeHash, name, version: v.version });
    },
  );
  await readTarGz(gzipped, sink);
}

/** What a diff cost, for the log and the docs. */
export interface DiffCost {
  baseVersions: number;
  nextVersions: number;
  ms: number;
}

/**
 * The package versions `next` lists and `base` does not, by UUID and tree hash: the bucket keeps a
 * package at `package/<uuid>/<treeHash>`, so the same tree under another UUID is another object
 * to fill. With no base, every version `next` lists.
 */
export async function addedVersions(
  base: ReadableStream<Uint8Array> | null,
  next: ReadableStream<Uint8Array>,
): Promise<{ added: ListedVersion[]; cost: DiffCost }> {
  const started = Date.now();
  const known = new Set<string>();
  const keyOf = (v: ListedVersion) => `${v.uuid}/${v.treeHash}`;
  if (base) await readSnapshot(base, (v) => known.add(keyOf(v)));
  const added: ListedVersion[] = [];
  const seen = new Set<string>();
  let nextVersions = 0;
  await readSnapshot(next, (v) => {
    nextVersions++;
    const key = keyOf(v);
    if (known.has(key) || seen.has(key)) return;
    seen.add(key);
    added.push(v);
  });
  return { added, cost: { baseVersions: known.size, nextVersions, ms: Date.now() - started } };
}
