/**
 * tree: memory per archive entry of the verifier's tree builder (the one thing in a fill that grows
 * with the archive rather than staying constant), in Node's V8, beside the bare minimum of the same
 * entries as a Map from path to hash string. Registry-shaped trees: a letter, a package directory,
 * four TOML files each. Gives the largest entry count that fits the 128 MB isolate with room to spare.
 */

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { TreeBuilder } from "../worker/verify/tree.ts";
import { nodeSha1 } from "../infra/lib/tarball.ts";
import { table } from "./lib.ts";

const FILES = ["Package.toml", "Versions.toml", "Deps.toml", "Compat.toml"];
const paths = (entries: number) =>
  Array.from({ length: entries }, (_, i) => `${String.fromCharCode(65 + (i % 26))}/Package${Math.floor(i / 4)}/${FILES[i % 4]}`);

async function treeBuilder(list: string[]): Promise<unknown> {
  const tree = new TreeBuilder(nodeSha1, Math.max(1, list.length));
  const data = new TextEncoder().encode("x = 1\n");
  for (const path of list) {
    await tree.entry({ path, type: "file", mode: 0o644, size: data.length, linkpath: "" });
    await tree.data(data);
    await tree.entryEnd();
  }
  return tree;
}

/** The bare minimum: each entry's path and a 20-byte hash, in one Map. */
async function bareMap(list: string[]): Promise<unknown> {
  const map = new Map<string, string>();
  for (const path of list) map.set(path, String.fromCharCode(...createHash("sha1").update(path).digest()));
  return map;
}

/**
 * The heap a structure of `entries` entries keeps, after full collections, in a fresh process
 * (native hash objects need several collections to go; a process per figure keeps them apart).
 * The paths themselves are allocated either way and not counted.
 */
function heapOf(kind: "tree" | "bare", entries: number): number {
  return Number(
    execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", kind, String(entries)], {
      encoding: "utf8",
    }).trim(),
  );
}

async function child(kind: string, entries: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const list = paths(entries);
  await settle();
  const before = process.memoryUsage().heapUsed;
  // Held by a global, so no optimisation can let it go before the measurement.
  (globalThis as { kept?: unknown }).kept = await (kind === "tree" ? treeBuilder(list) : bareMap(list));
  await settle();
  console.log(process.memoryUsage().heapUsed - before);
}

export async function benchTreeMemory(): Promise<void> {
  console.log("\n## tree: verifier memory per archive entry (Node's V8, registry-shaped paths, a process per figure)");
  const rows = [["entries", "tree builder", "bare Map<path, hash>", "ratio"]];
  let perEntry = 0;
  for (const entries of [50_000, 200_000]) {
    const tree = heapOf("tree", entries) / entries;
    const bare = heapOf("bare", entries) / entries;
    perEntry = Math.max(perEntry, tree);
    rows.push([String(entries), `${tree.toFixed(0)} B/entry`, `${bare.toFixed(0)} B/entry`, `${(tree / bare).toFixed(2)}×`]);
  }
  table(rows);
  const budget = 64 * 1024 * 1024; // half the isolate: the window, part buffers and the runtime need the rest
  console.log(
    `  at ${perEntry.toFixed(0)} B/entry, 64 MiB (half the 128 MB isolate) holds ${Math.floor(budget / perEntry).toLocaleString("en")} entries`,
  );
}

if (process.argv[2] === "--child") await child(process.argv[3]!, Number(process.argv[4]));
else if (import.meta.url === `file://${process.argv[1]}`) await benchTreeMemory();
