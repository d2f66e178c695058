/**
 * What prefetching reads: a registry's Package.toml and Versions.toml, a package's
 * Artifacts.toml, and the diff of two real snapshots (the fixture's, built by tar and gzip).
 */

import { describe, expect, it } from "vitest";
import { packageUuid, packageVersions, addedVersions } from "../../../worker/prefetch/snapshot";
import { chooseArtifacts, parseArtifactsToml, platformTriple, artifactsOf } from "../../../worker/prefetch/artifacts";
import { fixtureBytes, manifest } from "../harness";
import { gzip, tarBytes, type RawEntry } from "../verify/tar-writer";

const H = (c: string) => c.repeat(40);

describe("a registry's metadata", () => {
  it("reads a package's UUID from the top of Package.toml only", () => {
    expect(packageUuid('name = "A"\nuuid = "7876af07-990d-54b4-ab0e-23690620f79a"\nrepo = "x"\n')).toBe(
      "7876af07-990d-54b4-ab0e-23690620f79a",
    );
    expect(packageUuid('name = "A"\n[extra]\nuuid = "7876af07-990d-54b4-ab0e-23690620f79a"\n')).toBeNull();
    expect(packageUuid('uuid = "not-a-uuid"\n')).toBeNull();
  });

  it("lists installable versions: with a tree hash, not yanked", () => {
    const text = `["1.0.0"]\ngit-tree-sha1 = "${H("a")}"\n\n["1.0.1"]\ngit-tree-sha1 = "${H("b")}"\nyanked = true\n\n["1.1.0"]\n\n["2.0.0"]\ngit-tree-sha1 = "${H("c")}"\n`;
    expect(packageVersions(text)).toEqual([
      { version: "1.0.0", treeHash: H("a") },
      { version: "2.0.0", treeHash: H("c") },
    ]);
  });

  it("finds what a real snapshot adds over the one before, and everything with no base", async () => {
    const stream = async (path: string) => new Blob([await fixtureBytes(path)]).stream();
    const { added, cost } = await addedVersions(await stream(manifest.prefetch.base), await stream(manifest.prefetch.next));
    expect(added.map((v) => `/package/${v.uuid}/${v.treeHash}`).sort()).toEqual([...manifest.prefetch.packages].sort());
    expect(added.find((v) => v.name === "Hello_jll")?.version).toBe("1.1.0");
    expect(cost).toMatchObject({ baseVersions: 4, nextVersions: 55 });
    const all = await addedVersions(null, await stream(manifest.prefetch.base));
    expect(all.added).toHaveLength(4);
  });

  it("plans a package whose tree hash another package already lists, in the base or in the same snapshot", async () => {
    // The bucket keys packages by UUID and tree hash: the same tree under another UUID is another object.
    const [a, b, c] = [
      "11111111-1111-4111-8111-111111111111",
      "22222222-2222-4222-8222-222222222222",
      "33333333-3333-4333-8333-333333333333",
    ];
    const shared = H("d");
    const pkg = (name: string, uuid: string): RawEntry[] => [
      { name: `${name[0]}/${name}/Package.toml`, data: `name = "${name}"\nuuid = "${uuid}"\n` },
      { name: `${name[0]}/${name}/Versions.toml`, data: `["1.0.0"]\ngit-tree-sha1 = "${shared}"\n` },
    ];
    const snapshot = async (entries: RawEntry[]) => new Blob([await gzip(tarBytes(entries))]).stream();
    const { added, cost } = await addedVersions(
      await snapshot(pkg("Alpha", a)),
      await snapshot([...pkg("Alpha", a), ...pkg("Beta", b), ...pkg("Gamma", c)]),
    );
    expect(added.map((v) => `${v.name} ${v.uuid}/${v.treeHash}`).sort()).toEqual([`Beta ${b}/${shared}`, `Gamma ${c}/${shared}`]);
    expect(cost).toMatchObject({ baseVersions: 1, nextVersions: 3 });
  });
});

describe("Artifacts.toml", () => {
  const toml = `
[single]
git-tree-sha1 = "${H("1")}"

[[multi]]
arch = "x86_64"
git-tree-sha1 = "${H("2")}"
libc = "glibc"
os = "linux"
lazy = true

    [[multi.download]]
    sha256 = "${"0".repeat(64)}"
    url = "https://example.invalid/a.tar.gz"

[[multi]]
arch = "aarch64"
git-tree-sha1 = "${H("3")}"
os = "macos"

[[multi]]
arch = "x86_64"
git-tree-sha1 = "${H("4")}"
libc = "musl"
os = "linux"

[[multi]]
arch = "i686"
git-tree-sha1 = "${H("5")}"
os = "windows"

["quoted.name"]
git-tree-sha1 = "${H("6")}"
`;

  it("reads every entry, its platform triple and whether it is lazy", () => {
    expect(parseArtifactsToml(toml)).toEqual([
      { name: "single", treeHash: H("1"), lazy: false, platform: null },
      { name: "multi", treeHash: H("2"), lazy: true, platform: "x86_64-linux-gnu" },
      { name: "multi", treeHash: H("3"), lazy: false, platform: "aarch64-apple-darwin" },
      { name: "multi", treeHash: H("4"), lazy: false, platform: "x86_64-linux-musl" },
      { name: "multi", treeHash: H("5"), lazy: false, platform: "i686-w64-mingw32" },
      { name: "quoted.name", treeHash: H("6"), lazy: false, platform: null },
    ]);
    expect(platformTriple({ os: "linux", arch: "armv7l", libc: "glibc" })).toBe("armv7l-linux-gnueabihf");
    expect(platformTriple({ os: "freebsd", arch: "x86_64" })).toBe("x86_64-unknown-freebsd");
  });

  it("chooses the asked platforms plus platform-independent ones, lazy ones only if wanted", () => {
    const entries = parseArtifactsToml(toml);
    const hashes = (platforms: string[], lazy: boolean) => chooseArtifacts(entries, platforms, lazy).map((e) => e.treeHash[0]);
    expect(hashes([], true)).toEqual(["1", "2", "3", "4", "5", "6"]);
    expect(hashes(["x86_64-linux-gnu"], true)).toEqual(["1", "2", "6"]);
    expect(hashes(["x86_64-linux-gnu"], false)).toEqual(["1", "6"]);
  });

  it("reads a real package tarball's Artifacts.toml, and none from a package without one", async () => {
    const stream = async (path: string) => new Blob([await fixtureBytes(path)]).stream();
    const jll = await artifactsOf(await stream(manifest.prefetch.packages.at(-1)!));
    expect(jll.map((a) => [a.platform, a.lazy])).toEqual([
      ["x86_64-linux-gnu", false],
      ["aarch64-apple-darwin", false],
      [null, true],
    ]);
    expect(await artifactsOf(await stream(manifest.prefetch.packages[0]!))).toEqual([]);
  });
});
