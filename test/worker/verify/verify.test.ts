import { describe, expect, it } from "vitest";
import { createTarGzHasher, ExpansionRefused, treeHashOfTarGz, type HashOptions } from "../../../worker/verify/verify";
import { acceptTreeHash } from "../../../worker/verify/rule";
import { fixtureBytes, manifest } from "../harness";
import { chunked, gzip, pax, tarBytes, type RawEntry } from "./tar-writer";

async function hashesOf(entries: RawEntry[], options?: { end?: boolean }) {
  return treeHashOfTarGz(chunked(await gzip(tarBytes(entries, options)), 7, 64));
}

async function rejection(entries: RawEntry[]): Promise<string> {
  try {
    await hashesOf(entries);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error("expected the archive to be rejected");
}

const hello = { name: "hello.txt", data: "hello\n" };

describe("protocol.md §7.3 vectors", () => {
  it.each<[string, RawEntry[], string, string]>([
    ["empty archive", [], "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"],
    ["hello.txt 0644", [hello], "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7", "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7"],
    ["hello.txt 0755", [{ ...hello, mode: 0o755 }], "98fdf9811d717ff3732a85097d50ccacd67d941d", "98fdf9811d717ff3732a85097d50ccacd67d941d"],
    [
      "hello.txt + symlink",
      [hello, { name: "link", type: "2", linkname: "hello.txt" }],
      "289394abd5c066dd17bbf267b481225a018a4421",
      "289394abd5c066dd17bbf267b481225a018a4421",
    ],
    [
      "a.b sorts before a/ (git order)",
      [
        { name: "a.b", data: "x" },
        { name: "a/c", data: "y" },
      ],
      "e99b59db0978776808465fee625186bff1e1761d",
      "e99b59db0978776808465fee625186bff1e1761d",
    ],
    [
      "an empty directory",
      [hello, { name: "empty/", type: "5" }],
      "d00e5196f7f592086d704cc31f1b2df947dffde8",
      "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7",
    ],
    [
      "./ and ./hello.txt",
      [
        { name: "./", type: "5" },
        { name: "./hello.txt", data: "hello\n" },
      ],
      "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7",
      "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7",
    ],
  ])("%s", async (_, entries, noSkip, skip) => {
    const h = await hashesOf(entries);
    expect(h.noSkip).toBe(noSkip);
    expect(h.skip).toBe(skip);
  });
});

describe("tarballs made by real tools (hashes from git)", () => {
  it.each(manifest.vectors.map((v) => [v.name, v] as const))("%s", async (_, vector) => {
    const bytes = await fixtureBytes(vector.path);
    if (vector.rejected) {
      await expect(treeHashOfTarGz(chunked(bytes, 1, 4096))).rejects.toThrow(vector.rejected);
      return;
    }
    for (const [seed, max] of [
      [1, 1 << 20],
      [2, 513],
      [3, 7],
    ] as const) {
      if (max === 7 && bytes.length > 64 * 1024) continue; // tiny chunks only on small archives
      const h = await treeHashOfTarGz(chunked(bytes, seed, max));
      expect(h.skip, `chunks up to ${max}`).toBe(vector.skip);
      expect(h.noSkip, `chunks up to ${max}`).toBe(vector.noSkip);
    }
  });

  it("hashes the fixture packages, artifacts and registries to their names", async () => {
    for (const obj of Object.values(manifest.objects).filter((o) => o.size < 16 * 1024 * 1024)) {
      const h = await treeHashOfTarGz(chunked(await fixtureBytes(obj.path), 5, 1000));
      expect(acceptTreeHash(obj.kind, obj.treeHash, h).ok, obj.path).toBe(true);
    }
  });
});

describe("tar details", () => {
  it("applies pax path, linkpath and size records, and global records to later entries", async () => {
    const viaPax = await hashesOf([pax({ path: "hello.txt" }), { name: "ignored-name", data: "hello\n" }]);
    expect(viaPax.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
    const link = await hashesOf([hello, pax({ linkpath: "hello.txt" }), { name: "link", type: "2", linkname: "nowhere" }]);
    expect(link.noSkip).toBe("289394abd5c066dd17bbf267b481225a018a4421");
    const sized = await hashesOf([pax({ size: "6" }), { name: "hello.txt", data: "hello\n", size: 0 }]);
    expect(sized.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("takes the executable bit from owner-execute only (protocol.md §7.3.4)", async () => {
    const exec = "98fdf9811d717ff3732a85097d50ccacd67d941d";
    const plain = "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7";
    expect((await hashesOf([{ ...hello, mode: 0o700 }])).noSkip).toBe(exec);
    expect((await hashesOf([{ ...hello, mode: 0o100 }])).noSkip).toBe(exec);
    expect((await hashesOf([{ ...hello, mode: 0o611 }])).noSkip).toBe(plain);
    expect((await hashesOf([{ ...hello, mode: 0o677 }])).noSkip).toBe(plain);
    const linkedExec = await hashesOf([hello, { name: "copy", type: "1", linkname: "hello.txt", mode: 0o711 }]);
    const linkedPlain = await hashesOf([hello, { name: "copy", type: "1", linkname: "hello.txt", mode: 0o655 }]);
    expect(linkedExec.noSkip).toBe((await hashesOf([hello, { name: "copy", data: "hello\n", mode: 0o755 }])).noSkip);
    expect(linkedPlain.noSkip).toBe((await hashesOf([hello, { name: "copy", data: "hello\n" }])).noSkip);
  });

  it("lets the last entry for a path win", async () => {
    const h = await hashesOf([{ name: "hello.txt", data: "old\n", mode: 0o755 }, hello]);
    expect(h.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("gives a hardlink its target's content and its own executable bit", async () => {
    const plain = await hashesOf([hello, { name: "copy", data: "hello\n" }]);
    const linked = await hashesOf([hello, { name: "copy", type: "1", linkname: "hello.txt" }]);
    expect(linked.noSkip).toBe(plain.noSkip);
    const exec = await hashesOf([hello, { name: "copy", type: "1", linkname: "./hello.txt", mode: 0o755 }]);
    expect(exec.noSkip).toBe((await hashesOf([hello, { name: "copy", data: "hello\n", mode: 0o755 }])).noSkip);
  });

  it("reads base-256 sizes", async () => {
    const h = await hashesOf([
      {
        ...hello,
        patch: (hdr) => {
          hdr.fill(0, 124, 136);
          hdr[124] = 0x80;
          hdr[135] = 6;
        },
        rechecksum: true,
      },
    ]);
    expect(h.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("accepts a v7 header (no magic, no version)", async () => {
    const h = await hashesOf([{ ...hello, patch: (hdr) => hdr.fill(0, 257, 265), rechecksum: true }]);
    expect(h.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("reports whether Registry.toml is at the root, with no ./ prefix", async () => {
    expect((await hashesOf([{ name: "Registry.toml", data: "x" }])).registryTomlAtRoot).toBe(true);
    expect((await hashesOf([{ name: "./Registry.toml", data: "x" }])).registryTomlAtRoot).toBe(false);
    expect((await hashesOf([{ name: "sub/Registry.toml", data: "x" }])).registryTomlAtRoot).toBe(false);
  });
});

describe("malformed archives are rejected", () => {
  it.each<[string, RawEntry[], RegExp]>([
    ["a bad header checksum", [{ ...hello, patch: (h) => (h[0] = 0x78) }], /checksum/],
    ["a path with ..", [{ name: "a/../../etc/passwd", data: "x" }], /\.\./],
    ["an absolute path", [{ name: "/etc/passwd", data: "x" }], /absolute/],
    ["a character device", [{ name: "dev", type: "3" }], /unsupported entry type/],
    ["a block device", [{ name: "dev", type: "4" }], /unsupported entry type/],
    ["a fifo", [{ name: "fifo", type: "6" }], /unsupported entry type/],
    [
      "a path through a symlink",
      [
        { name: "l", type: "2", linkname: "/tmp" },
        { name: "l/evil", data: "x" },
      ],
      /under the symlink/,
    ],
    ["a hardlink to nothing", [{ name: "h", type: "1", linkname: "missing" }], /hardlink/],
    [
      "a hardlink to a symlink",
      [
        { name: "s", type: "2", linkname: "x" },
        { name: "h", type: "1", linkname: "s" },
      ],
      /hardlink/,
    ],
    ["a hardlink out of the archive", [{ name: "h", type: "1", linkname: "../x" }], /hardlink|\.\./],
    ["a link target on a file", [{ name: "f", data: "x", linkname: "y" }], /link target/],
    ["a symlink with no target", [{ name: "s", type: "2" }], /empty target/],
    ["a directory with data", [{ name: "d/", type: "5", data: "x" }], /non-zero size/],
    ["a file path ending in /", [{ name: "f/", data: "x" }], /ending with '\/'/],
    ["an unknown tar version", [{ ...hello, patch: (h) => h.set([0x39, 0x39], 263), rechecksum: true }], /version/],
    ["a negative base-256 size", [{ ...hello, patch: (h) => (h[124] = 0xff), rechecksum: true }], /size/],
    ["a malformed octal size", [{ ...hello, patch: (h) => h.set([0x39], 124), rechecksum: true }], /size/],
    ["a malformed pax size", [pax({ size: "12x" }), hello], /pax size/],
    ["a NUL in a pax path", [pax({ path: "a\0b" }), hello], /NUL/],
    ["a GNU long name without its NUL", [{ name: "././@LongLink", type: "L", data: "name" }, hello], /NUL/],
  ])("%s", async (_, entries, reason) => {
    expect(await rejection(entries)).toMatch(reason);
  });

  it("rejects an archive cut inside an entry", async () => {
    const whole = tarBytes([{ name: "big", data: new Uint8Array(4096).fill(7) }], { end: false });
    await expect(treeHashOfTarGz(chunked(await gzip(whole.subarray(0, 2000)), 1, 300))).rejects.toThrow(/truncated/);
  });

  it("rejects a gzip stream cut short", async () => {
    const gz = await gzip(tarBytes([hello]));
    await expect(treeHashOfTarGz(chunked(gz.subarray(0, gz.length - 6), 1, 100))).rejects.toThrow();
  });

  it("rejects bytes that are not gzip", async () => {
    await expect(treeHashOfTarGz(chunked(tarBytes([hello]), 1, 100))).rejects.toThrow();
  });

  it("rejects a valid gzip of something that is not a tar", async () => {
    await expect(
      treeHashOfTarGz(chunked(await gzip(new TextEncoder().encode("<html>not found</html>\n".repeat(40))), 1, 100)),
    ).rejects.toThrow(/checksum|truncated/);
  });

  it("rejects junk after the end of the gzip stream", async () => {
    const gz = await gzip(tarBytes([hello]));
    const junk = new Uint8Array(gz.length + 100);
    junk.set(gz);
    junk.fill(0x41, gz.length);
    await expect(treeHashOfTarGz(chunked(junk, 1, 64))).rejects.toThrow(/after the end of the gzip stream/);
  });
});

describe("Tar.jl's rules, exactly (read_tarball, check_header, git_tree_hash)", () => {
  const genuine = [hello, { name: "lib/", type: "5" }, { name: "lib/a", data: "a\n" }];

  it.each<[string, RawEntry[], RegExp]>([
    ["a genuine tree plus a symlink named .", [...genuine, { name: ".", type: "2", linkname: "lib" }], /'\.' component/],
    ["a genuine tree plus a hardlink named .", [...genuine, { name: ".", type: "1", linkname: "hello.txt" }], /'\.' component/],
    ["a symlink named x/.", [...genuine, { name: "lib/.", type: "2", linkname: "a" }], /'\.' component/],
    [
      "an entry under a symlink whose parent was replaced by a file since",
      [
        { name: "a/b", type: "2", linkname: "/etc" },
        { name: "a", data: "now a file\n" },
        { name: "a/b/c", data: "x" },
      ],
      /under the symlink "a\/b"/,
    ],
    [
      "a hardlink to a hardlink",
      [hello, { name: "h1", type: "1", linkname: "hello.txt" }, { name: "h2", type: "1", linkname: "h1" }],
      /hardlink target/,
    ],
    [
      "a hardlink to a directory",
      [
        { name: "d/", type: "5" },
        { name: "h", type: "1", linkname: "d" },
      ],
      /directory target/,
    ],
    [
      "a hardlink to a file whose parent was replaced since",
      [
        { name: "a/b", data: "x" },
        { name: "a", data: "y" },
        { name: "h", type: "1", linkname: "a/b" },
      ],
      /missing target/,
    ],
    [
      "a hardlink to a path whose last entry is a symlink",
      [hello, { name: "s", type: "2", linkname: "hello.txt" }, { name: "h", type: "1", linkname: "s" }],
      /symlink target/,
    ],
    ["an empty mode field", [{ ...hello, patch: (h) => h.fill(0, 100, 108), rechecksum: true }], /empty mode/],
    ["an empty checksum field", [{ ...hello, patch: (h) => h.fill(0, 148, 156) }], /checksum/],
  ])("refuses %s", async (_, entries, reason) => {
    expect(await rejection(entries)).toMatch(reason);
  });

  it("accepts an entry under a path that was a symlink and is a directory since", async () => {
    const h = await hashesOf([
      { name: "l", type: "2", linkname: "/tmp" },
      { name: "l/", type: "5" },
      { name: "l/x", data: "x" },
    ]);
    expect(h.noSkip).toBe((await hashesOf([{ name: "l/x", data: "x" }])).noSkip);
  });

  it("resolves an absolute hardlink target inside the archive, as Tar.jl normalises it", async () => {
    const absolute = await hashesOf([hello, { name: "copy", type: "1", linkname: "/hello.txt" }]);
    const relative = await hashesOf([hello, { name: "copy", type: "1", linkname: "hello.txt" }]);
    expect(absolute.noSkip).toBe(relative.noSkip);
  });

  it("reads an octal field up to its first space or NUL", async () => {
    const h = await hashesOf([{ ...hello, patch: (hdr) => hdr.set(new TextEncoder().encode("  644 zz"), 100), rechecksum: true }]);
    expect(h.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("applies extended records in order: a global path after a local one wins", async () => {
    const h = await hashesOf([pax({ path: "ignored.txt" }), pax({ path: "hello.txt" }, "g"), { name: "name-in-header", data: "hello\n" }]);
    expect(h.noSkip).toBe("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
  });

  it("refuses an archive with more entries than the cap, naming the setting", async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: "x" }));
    const tar = chunked(await gzip(tarBytes(entries)), 3, 512);
    await expect(treeHashOfTarGz(tar, { maxEntries: 4 })).rejects.toThrow(/more than 4 entries \(VERIFY_MAX_ENTRIES\)/);
    const ok = await treeHashOfTarGz(chunked(await gzip(tarBytes(entries)), 3, 512), { maxEntries: 5 });
    expect(ok.entries).toBe(5);
  });
});

/** Feeds bytes as a fill does (the push form), in pieces of 1000; resolves to the hashes or the refusal. */
async function pushed(bytes: Uint8Array, options: HashOptions): Promise<unknown> {
  const hasher = createTarGzHasher(options);
  try {
    for (let offset = 0; offset < bytes.length; offset += 1000) await hasher.write(bytes.subarray(offset, offset + 1000));
    return await hasher.finish();
  } catch (err) {
    return err;
  }
}

async function piped(bytes: Uint8Array, options: HashOptions): Promise<unknown> {
  return treeHashOfTarGz(chunked(bytes, 9, 1000), options).catch((err: unknown) => err);
}

describe("a bound on what an archive expands to (gzip bombs)", () => {
  const MiB = 1024 * 1024;
  // 16 MiB of zeros in one file: about 16 KiB gzipped, so about 1000:1.
  const bomb = async () => gzip(tarBytes([{ name: "zeros.bin", data: new Uint8Array(16 * MiB) }]));

  it.each([
    ["as a fill feeds it", pushed],
    ["piped", piped],
  ] as const)("refuses a bomb at the ratio, without decompressing the rest (%s)", async (_, verify) => {
    const bytes = await bomb();
    const err = await verify(bytes, { maxRatio: 20, ratioFloorBytes: MiB });
    expect(err).toBeInstanceOf(ExpansionRefused);
    const refused = err as ExpansionRefused;
    expect(refused.limit).toBe("ratio");
    expect(refused.message).toMatch(/decompresses to more than 20 times its compressed size \(VERIFY_MAX_RATIO\)/);
    // The bound is max(floor, 20 × compressed so far) = 1 MiB here; it stops within a chunk or so of it.
    expect(refused.decompressed).toBeGreaterThan(MiB);
    expect(refused.decompressed).toBeLessThan(2 * MiB);
    expect(refused.compressed).toBeLessThanOrEqual(bytes.length);
  });

  it("refuses an archive past the total bound, naming it", async () => {
    const err = await pushed(await bomb(), { maxDecompressedBytes: 3 * MiB });
    expect(err).toBeInstanceOf(ExpansionRefused);
    expect((err as ExpansionRefused).limit).toBe("total");
    expect((err as ExpansionRefused).message).toMatch(/more than 3145728 bytes \(VERIFY_MAX_DECOMPRESSED_BYTES\)/);
    expect((err as ExpansionRefused).decompressed).toBeLessThan(4 * MiB);
  });

  it("accepts the same bomb under the default floor (64 MiB), and real tarballs at the default ratio with no floor", async () => {
    expect(await pushed(await bomb(), {})).toMatchObject({ entries: 1 });
    for (const obj of Object.values(manifest.objects).filter((o) => o.size < 16 * MiB)) {
      const h = await pushed(await fixtureBytes(obj.path), { ratioFloorBytes: 0 });
      expect(h, obj.path).not.toBeInstanceOf(Error);
      expect(acceptTreeHash(obj.kind, obj.treeHash, h as Awaited<ReturnType<typeof treeHashOfTarGz>>).ok, obj.path).toBe(true);
    }
  });
});

describe("the commit rule (protocol.md §7.4)", () => {
  const hashes = { noSkip: "n".repeat(40), skip: "s".repeat(40), registryTomlAtRoot: true, entries: 1 };
  it("accepts packages and artifacts under either hash", () => {
    for (const kind of ["package", "artifact"] as const) {
      expect(acceptTreeHash(kind, hashes.noSkip, hashes)).toEqual({ ok: true, matched: "no-skip" });
      expect(acceptTreeHash(kind, hashes.skip, hashes)).toEqual({ ok: true, matched: "skip" });
      expect(acceptTreeHash(kind, "x".repeat(40), hashes).ok).toBe(false);
    }
  });
  it("accepts a registry only under its no-skip hash, with Registry.toml at the root (E12)", () => {
    expect(acceptTreeHash("registry", hashes.noSkip, hashes).ok).toBe(true);
    expect(acceptTreeHash("registry", hashes.skip, hashes).ok).toBe(false);
    expect(acceptTreeHash("registry", hashes.noSkip, { ...hashes, registryTomlAtRoot: false }).ok).toBe(false);
  });
});
