/**
 * Ordering registry snapshots by content: what they list is the set of (package UUID, version tree
 * hash), yanked versions included. Only adding is newer, only removing is older.
 */

import { describe, expect, it } from "vitest";
import { compareSnapshotsByContent } from "../../../worker/registries/content-order";
import { fixtureBytes, manifest } from "../harness";
import { gzip, tarBytes, type RawEntry } from "../verify/tar-writer";

const H = (c: string) => c.repeat(40);
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

/** A package directory: its UUID and its versions as [version, tree hash, yanked?]. */
function pkg(name: string, uuid: string, versions: [string, string, boolean?][]): RawEntry[] {
  const toml = versions.map(([v, h, yanked]) => `["${v}"]\ngit-tree-sha1 = "${h}"\n${yanked ? "yanked = true\n" : ""}`).join("\n");
  return [
    { name: `${name[0]}/${name}/Package.toml`, data: `name = "${name}"\nuuid = "${uuid}"\n` },
    { name: `${name[0]}/${name}/Versions.toml`, data: toml },
  ];
}

const snapshot = async (entries: RawEntry[]) =>
  new Blob([await gzip(tarBytes([{ name: "Registry.toml", data: "" }, ...entries]))]).stream();
const compare = async (published: RawEntry[], candidate: RawEntry[]) =>
  compareSnapshotsByContent(await snapshot(published), await snapshot(candidate));

const base = () => [...pkg("Alpha", A, [["1.0.0", H("a")]]), ...pkg("Beta", B, [["0.1.0", H("b")]])];

describe("content order", () => {
  it("a candidate that adds a version, or a package, and removes none is newer", async () => {
    expect(
      await compare(base(), [
        ...pkg("Alpha", A, [
          ["1.0.0", H("a")],
          ["1.1.0", H("c")],
        ]),
        ...pkg("Beta", B, [["0.1.0", H("b")]]),
      ]),
    ).toBe("newer");
    expect(await compare(base(), [...base(), ...pkg("Gamma", "33333333-3333-4333-8333-333333333333", [["1.0.0", H("d")]])])).toBe("newer");
  });

  it("one that only removes is older, and the same set is the same", async () => {
    expect(await compare(base(), pkg("Alpha", A, [["1.0.0", H("a")]]))).toBe("older");
    expect(await compare(base(), base())).toBe("same");
  });

  it("a yank is not a removal: the yanked version is still listed", async () => {
    const yanked = [...pkg("Alpha", A, [["1.0.0", H("a"), true]]), ...pkg("Beta", B, [["0.1.0", H("b")]])];
    expect(await compare(base(), yanked)).toBe("same");
    expect(await compare(base(), [...yanked, ...pkg("Gamma", "33333333-3333-4333-8333-333333333333", [["1.0.0", H("d")]])])).toBe("newer");
  });

  it("proves nothing when a version's tree hash or a package's UUID changed, or versions were both added and removed", async () => {
    expect(await compare(base(), [...pkg("Alpha", A, [["1.0.0", H("e")]]), ...pkg("Beta", B, [["0.1.0", H("b")]])])).toBe("unproven");
    expect(
      await compare(base(), [
        ...pkg("Alpha", "44444444-4444-4444-8444-444444444444", [["1.0.0", H("a")]]),
        ...pkg("Beta", B, [["0.1.0", H("b")]]),
      ]),
    ).toBe("unproven");
    expect(await compare(base(), [...pkg("Alpha", A, [["1.1.0", H("c")]]), ...pkg("Beta", B, [["0.1.0", H("b")]])])).toBe("unproven");
  });

  it("proves nothing, and does not throw, when a tarball is not a readable registry", async () => {
    const garbage = new Blob([new Uint8Array([0x1f, 0x8b, 1, 2, 3])]).stream();
    expect(await compareSnapshotsByContent(await snapshot(base()), garbage)).toBe("unproven");
    expect(await compareSnapshotsByContent(new Blob([new Uint8Array(10)]).stream(), await snapshot(base()))).toBe("unproven");
  });

  it("orders the fixture's real snapshots: the later one is newer, the earlier one older", async () => {
    const [first, second] = manifest.snapshots;
    const bytes = async (path: string) => new Blob([await fixtureBytes(path)]).stream();
    expect(await compareSnapshotsByContent(await bytes(first!), await bytes(second!))).toBe("newer");
    expect(await compareSnapshotsByContent(await bytes(second!), await bytes(first!))).toBe("older");
  });
});
