/**
 * Builds the file tree a tarball unpacks to and computes its git tree hash (protocol.md §7.3), both with
 * empty directories hashed as the empty tree (no-skip, Tar.jl's default) and without them (skip,
 * what git and Pkg's on-disk check do). Each file's blob hash is computed as its bytes stream by,
 * so memory grows with the number of entries, never with file sizes.
 */

import { latin1Bytes, TarError, type TarEntry, type TarSink } from "./tar.ts";

/**
 * A leaf is one short string, its kind's letter then its 20 hash bytes (one char per byte): an
 * object with a Uint8Array cost about 290 bytes per entry, and archives can hold ~10^5 entries.
 * `f`/`x`: a file (mode 100644/100755); `F`/`X`: the same made by a hardlink (Tar.jl refuses a
 * hardlink to one); `l`: a symlink. A directory is a Map of its children.
 */
type Leaf = string;
type Dir = Map<string, Node>;
type Node = Leaf | Dir;

const MODES: Record<string, string> = { f: "100644", x: "100755", F: "100644", X: "100755", l: "120000" };

/** Built in one call, so V8 keeps one flat string rather than a concatenation of two. */
function leaf(kind: "f" | "x" | "F" | "X" | "l", hash: Uint8Array): Leaf {
  return String.fromCharCode(kind.charCodeAt(0), ...hash);
}

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
  if (parts.length === 1) return new Uint8Array(await crypto.subtle.digest("SHA-1", parts[0]!));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-1", all));
}

/** Path components after normalisation (protocol.md §7.2.8): empty and `.` components dropped. */
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

function digestStreamSha1(): StreamingSha1 {
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

/** Archives larger than this many entries are refused unless the caller says otherwise. */
export const DEFAULT_MAX_ENTRIES = 250_000;

/** An archive refused for its number of entries (a limit of this verifier, not a fault of the bytes). */
export class TooManyEntries extends TarError {
  constructor(maxEntries: number) {
    super(`archive has more than ${maxEntries} entries (VERIFY_MAX_ENTRIES)`);
    this.name = "TooManyEntries";
  }
}

/**
 * Builds the tree the way Tar.jl's `read_tarball` and `git_tree_hash` do, refusing what they
 * refuse: an entry under a path whose last entry was a symlink (even if a parent was replaced
 * since), and a hardlink whose target's last entry is not a plain file.
 */
export class TreeBuilder implements TarSink {
  private readonly root: Dir = new Map();
  /** The file being read: a small one is gathered in `small` (reused for every file), a large one streams through a digest. */
  private current: { path: string[]; exec: boolean; stream: StreamingSha1 | null } | null = null;
  private readonly small = new Uint8Array(SMALL_FILE + 32);
  private smallBytes = 0;
  /** Normalised paths whose last entry is a symlink (Tar.jl's `paths` values that are strings). */
  private readonly symlinks = new Set<string>();

  private readonly streamingSha1: () => StreamingSha1;
  private readonly maxEntries: number;

  // Plain fields (see TarReader): this module also runs in Node's type stripping.
  constructor(streamingSha1: () => StreamingSha1 = digestStreamSha1, maxEntries = DEFAULT_MAX_ENTRIES) {
    this.streamingSha1 = streamingSha1;
    this.maxEntries = maxEntries;
  }
  private registryToml = false;
  private count = 0;

  async entry(e: TarEntry): Promise<void> {
    if (++this.count > this.maxEntries) throw new TooManyEntries(this.maxEntries);
    const path = components(e.path);
    this.refuseUnderSymlink(path, e.path);
    if (this.symlinks.size > 0) {
      const full = path.join("/");
      if (e.type === "symlink") this.symlinks.add(full);
      else this.symlinks.delete(full);
    } else if (e.type === "symlink") {
      this.symlinks.add(path.join("/"));
    }
    if (path.length === 0) return; // the archive root (`./`)
    switch (e.type) {
      case "directory":
        this.ensureDir(path);
        return;
      case "symlink": {
        const target = latin1Bytes(e.linkpath);
        this.place(path, leaf("l", await sha1(encoder.encode(`blob ${target.length}\0`), target)));
        return;
      }
      case "hardlink": {
        const target = this.lookup(components(e.linkpath));
        if (typeof target !== "string" || (target[0] !== "f" && target[0] !== "x")) {
          const what =
            target === undefined
              ? "a missing"
              : typeof target !== "string"
                ? "a directory"
                : target[0] === "l"
                  ? "a symlink"
                  : "a hardlink";
          throw new TarError(`hardlink ${JSON.stringify(e.path)} has ${what} target ${JSON.stringify(e.linkpath)}`);
        }
        this.place(path, leaf(e.mode & 0o100 ? "X" : "F", latin1Bytes(target.slice(1))));
        return;
      }
      case "file": {
        if (e.path === "Registry.toml") this.registryToml = true;
        const exec = (e.mode & 0o100) !== 0;
        const header = encoder.encode(`blob ${e.size}\0`);
        if (e.size <= SMALL_FILE) {
          this.small.set(header);
          this.smallBytes = header.byteLength;
          this.current = { path, exec, stream: null };
        } else {
          const stream = this.streamingSha1();
          await stream.update(header);
          this.current = { path, exec, stream };
        }
        return;
      }
    }
  }

  async data(chunk: Uint8Array): Promise<void> {
    const cur = this.current!;
    if (cur.stream) return cur.stream.update(chunk);
    this.small.set(chunk, this.smallBytes);
    this.smallBytes += chunk.byteLength;
  }

  async entryEnd(): Promise<void> {
    const cur = this.current!;
    this.current = null;
    const hash = cur.stream ? await cur.stream.digest() : await sha1(this.small.subarray(0, this.smallBytes));
    this.place(cur.path, leaf(cur.exec ? "x" : "f", hash));
  }

  async hashes(): Promise<TreeHashes> {
    const noSkip = await hashTree(this.root, false);
    const skip = (await hashTree(this.root, true)) ?? EMPTY_TREE;
    return { noSkip: hex(noSkip!), skip: hex(skip), registryTomlAtRoot: this.registryToml, entries: this.count };
  }

  /** Tar.jl: no entry may lie under a path whose last entry was a symlink ("possible attack"). */
  private refuseUnderSymlink(path: string[], raw: string): void {
    if (this.symlinks.size === 0) return;
    let prefix = "";
    for (let i = 0; i < path.length - 1; i++) {
      prefix = i === 0 ? path[0]! : `${prefix}/${path[i]}`;
      if (this.symlinks.has(prefix)) throw new TarError(`path ${JSON.stringify(raw)} lies under the symlink ${JSON.stringify(prefix)}`);
    }
  }

  private lookup(path: string[]): Node | undefined {
    let node: Node | undefined = this.root;
    for (const name of path) {
      if (node === undefined || typeof node === "string") return undefined;
      node = node.get(name);
    }
    return node;
  }

  /** Walks to the parent directory, replacing anything that is not a directory on the way. */
  private parentOf(path: string[]): Dir {
    let dir = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      let next = dir.get(path[i]!);
      if (next === undefined || typeof next === "string") {
        next = new Map();
        dir.set(path[i]!, next);
      }
      dir = next;
    }
    return dir;
  }

  private ensureDir(path: string[]): void {
    const parent = this.parentOf(path);
    const name = path[path.length - 1]!;
    if (typeof parent.get(name) !== "object") parent.set(name, new Map());
  }

  /** Last entry wins (protocol.md §7.3.6). */
  private place(path: string[], node: Leaf): void {
    this.parentOf(path).set(path[path.length - 1]!, node);
  }
}

const EMPTY_TREE = new Uint8Array([
  0x4b, 0x82, 0x5d, 0xc6, 0x42, 0xcb, 0x6e, 0xb9, 0xa0, 0x60, 0xe5, 0x4b, 0xf8, 0xd6, 0x92, 0x88, 0xfb, 0xee, 0x49, 0x04,
]);

/**
 * The git tree object hash of a directory. With `skipEmpty`, directories that (recursively) hold
 * no file or symlink are left out, and an empty result is null.
 */
async function hashTree(dir: Dir, skipEmpty: boolean): Promise<Uint8Array | null> {
  const rows: { key: string; name: string; mode: string; hash: Uint8Array }[] = [];
  for (const [name, node] of dir) {
    if (typeof node !== "string") {
      const hash = await hashTree(node, skipEmpty);
      if (hash) rows.push({ key: name + "/", name, mode: "40000", hash });
    } else {
      rows.push({ key: name, name, mode: MODES[node[0]!]!, hash: latin1Bytes(node.slice(1)) });
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
