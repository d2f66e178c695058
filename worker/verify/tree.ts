/**
 * Builds the file tree a tarball unpacks to and computes its git tree hash (spec §7.3), both with
 * empty directories hashed as the empty tree (no-skip, Tar.jl's default) and without them (skip,
 * what git and Pkg's on-disk check do). Each file's blob hash is computed as its bytes stream by,
 * so memory grows with the number of entries, never with file sizes.
 */

import { latin1Bytes, TarError, type TarEntry, type TarSink } from "./tar.ts";

type Leaf = { kind: "leaf"; mode: "100644" | "100755" | "120000"; hash: Uint8Array };
type Dir = { kind: "dir"; children: Map<string, Node> };
type Node = Leaf | Dir;

export interface TreeHashes {
  /** Empty directories hashed as the empty tree (what registries are named by). */
  noSkip: string;
  /** Empty directories left out, as git does (what most packages and artifacts are named by). */
  skip: string;
  /** The archive has a regular file whose raw path is exactly `Registry.toml` (no `./`). */
  registryTomlAtRoot: boolean;
  entries: number;
}

const encoder = new TextEncoder();

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

async function sha1(...parts: Uint8Array[]): Promise<Uint8Array> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-1", all));
}

/** Path components after normalisation (spec §7.2.8): empty and `.` components dropped. */
function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/** Files up to this size are hashed in one digest call; larger ones stream through a digest. */
const SMALL_FILE = 64 * 1024;

/** An incremental SHA-1. workerd has crypto.DigestStream; elsewhere (operator tools on Node) pass one in. */
export interface StreamingSha1 {
  update(bytes: Uint8Array): void | Promise<void>;
  digest(): Promise<Uint8Array>;
}

/** crypto.DigestStream is workerd's; looked up so this module also loads (given a sha1) in Node. */
type DigestStreamClass = new (algorithm: string) => WritableStream<Uint8Array> & { digest: Promise<ArrayBuffer> };

export function digestStreamSha1(): StreamingSha1 {
  const DigestStream = (crypto as unknown as { DigestStream?: DigestStreamClass }).DigestStream;
  if (!DigestStream) throw new Error("no crypto.DigestStream here: pass a streaming SHA-1 to the tree builder");
  const ds = new DigestStream("SHA-1");
  const writer = ds.getWriter();
  return {
    update: (bytes) => writer.write(bytes),
    async digest() {
      await writer.close();
      return new Uint8Array(await ds.digest);
    },
  };
}

export class TreeBuilder implements TarSink {
  private readonly root: Dir = { kind: "dir", children: new Map() };
  private current: { path: string[]; mode: Leaf["mode"]; small: Uint8Array[] | null; stream: StreamingSha1 | null } | null = null;

  private readonly streamingSha1: () => StreamingSha1;

  // A plain field (see TarReader): this module also runs in Node's type stripping.
  constructor(streamingSha1: () => StreamingSha1 = digestStreamSha1) {
    this.streamingSha1 = streamingSha1;
  }
  private registryToml = false;
  private count = 0;

  async entry(e: TarEntry): Promise<void> {
    this.count++;
    const path = components(e.path);
    if (path.length === 0) return; // the archive root (`./`)
    this.refuseThroughSymlink(path, e.path);
    switch (e.type) {
      case "directory":
        this.ensureDir(path);
        return;
      case "symlink": {
        const target = latin1Bytes(e.linkpath);
        this.place(path, { kind: "leaf", mode: "120000", hash: await sha1(encoder.encode(`blob ${target.length}\0`), target) });
        return;
      }
      case "hardlink": {
        const target = this.lookup(components(e.linkpath));
        if (!target || target.kind !== "leaf" || target.mode === "120000") {
          throw new TarError(`hardlink ${JSON.stringify(e.path)} does not point at an earlier regular file`);
        }
        this.place(path, { kind: "leaf", mode: e.mode & 0o100 ? "100755" : "100644", hash: target.hash });
        return;
      }
      case "file": {
        if (e.path === "Registry.toml") this.registryToml = true;
        const mode = e.mode & 0o100 ? "100755" : "100644";
        const header = encoder.encode(`blob ${e.size}\0`);
        if (e.size <= SMALL_FILE) {
          this.current = { path, mode, small: [header], stream: null };
        } else {
          const stream = this.streamingSha1();
          await stream.update(header);
          this.current = { path, mode, small: null, stream };
        }
        return;
      }
    }
  }

  async data(chunk: Uint8Array): Promise<void> {
    const cur = this.current!;
    if (cur.small) cur.small.push(chunk.slice());
    else await cur.stream!.update(chunk);
  }

  async entryEnd(): Promise<void> {
    const cur = this.current!;
    this.current = null;
    let hash: Uint8Array;
    if (cur.small) {
      hash = await sha1(...cur.small);
    } else {
      hash = await cur.stream!.digest();
    }
    this.place(cur.path, { kind: "leaf", mode: cur.mode, hash });
  }

  async hashes(): Promise<TreeHashes> {
    const noSkip = await hashTree(this.root, false);
    const skip = (await hashTree(this.root, true)) ?? EMPTY_TREE;
    return { noSkip: hex(noSkip!), skip: hex(skip), registryTomlAtRoot: this.registryToml, entries: this.count };
  }

  /** Spec §7.2.9: no entry may pass through a symlink already in the tree. */
  private refuseThroughSymlink(path: string[], raw: string): void {
    let dir = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const node = dir.children.get(path[i]!);
      if (!node) return;
      if (node.kind === "leaf") {
        if (node.mode === "120000") throw new TarError(`path ${JSON.stringify(raw)} passes through a symlink`);
        return; // a file in the way is replaced by a directory
      }
      dir = node;
    }
  }

  private lookup(path: string[]): Node | undefined {
    let node: Node | undefined = this.root;
    for (const name of path) {
      if (!node || node.kind !== "dir") return undefined;
      node = node.children.get(name);
    }
    return node;
  }

  /** Walks to the parent directory, replacing anything that is not a directory on the way. */
  private parentOf(path: string[]): Dir {
    let dir = this.root;
    for (const name of path.slice(0, -1)) {
      let next = dir.children.get(name);
      if (!next || next.kind !== "dir") {
        next = { kind: "dir", children: new Map() };
        dir.children.set(name, next);
      }
      dir = next;
    }
    return dir;
  }

  private ensureDir(path: string[]): void {
    const parent = this.parentOf(path);
    const name = path[path.length - 1]!;
    if (parent.children.get(name)?.kind !== "dir") parent.children.set(name, { kind: "dir", children: new Map() });
  }

  /** Last entry wins (spec §7.3.6). */
  private place(path: string[], leaf: Leaf): void {
    this.parentOf(path).children.set(path[path.length - 1]!, leaf);
  }
}

const EMPTY_TREE = new Uint8Array([0x4b, 0x82, 0x5d, 0xc6, 0x42, 0xcb, 0x6e, 0xb9, 0xa0, 0x60, 0xe5, 0x4b, 0xf8, 0xd6, 0x92, 0x88, 0xfb, 0xee, 0x49, 0x04]);

/**
 * The git tree object hash of a directory. With `skipEmpty`, directories that (recursively) hold
 * no file or symlink are left out, and an empty result is null.
 */
async function hashTree(dir: Dir, skipEmpty: boolean): Promise<Uint8Array | null> {
  const rows: { key: string; name: string; mode: string; hash: Uint8Array }[] = [];
  for (const [name, node] of dir.children) {
    if (node.kind === "dir") {
      const hash = await hashTree(node, skipEmpty);
      if (hash) rows.push({ key: name + "/", name, mode: "40000", hash });
    } else {
      rows.push({ key: name, name, mode: node.mode, hash: node.hash });
    }
  }
  if (skipEmpty && rows.length === 0) return null;
  // Git order: by name bytes, with "/" appended to trees (names are one char per byte).
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const parts: Uint8Array[] = [];
  let length = 0;
  for (const row of rows) {
    const head = latin1Bytes(`${row.mode} ${row.name}\0`);
    parts.push(head, row.hash);
    length += head.length + row.hash.length;
  }
  return sha1(encoder.encode(`tree ${length}\0`), ...parts);
}
