import { describe, expect, it } from "vitest";
import { formatRegistryList, parseRegistryList, parseResourcePath } from "../../../worker/protocol/paths";

const UUID = "7876af07-990d-54b4-ab0e-23690620f79a";
const HASH = "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc";

describe("resource paths (protocol.md §2)", () => {
  it("parses the three resource kinds into bucket keys", () => {
    expect(parseResourcePath(`/package/${UUID}/${HASH}`)).toEqual({
      kind: "package",
      key: `package/${UUID}/${HASH}`,
      uuid: UUID,
      treeHash: HASH,
    });
    expect(parseResourcePath(`/registry/${UUID}/${HASH}`)).toEqual({
      kind: "registry",
      key: `registry/${UUID}/${HASH}`,
      uuid: UUID,
      treeHash: HASH,
    });
    expect(parseResourcePath(`/artifact/${HASH}`)).toEqual({ kind: "artifact", key: `artifact/${HASH}`, treeHash: HASH });
  });

  it.each([
    ["uppercase UUID (C28)", `/package/${UUID.toUpperCase()}/${HASH}`],
    ["uppercase hash (C29)", `/package/${UUID}/${HASH.toUpperCase()}`],
    ["39-hex artifact (C30)", `/artifact/${HASH.slice(1)}`],
    ["41-hex artifact (C30)", `/artifact/${HASH}0`],
    ["trailing slash (C31)", `/package/${UUID}/${HASH}/`],
    ["suffix (C32)", `/artifact/${HASH}.tar.gz`],
    ["non-hex UUID letters (E2)", `/package/7876af07-990d-54b4-ab0e-23690620f79g/${HASH}`],
    ["encoded slash", `/package%2F${UUID}/${HASH}`],
    ["percent-encoded hex", `/artifact/%34${HASH.slice(1)}`],
    ["dot-dot", `/package/../artifact/${HASH}`],
    ["double slash", `//artifact/${HASH}`],
    ["double slash inside", `/package//${UUID}/${HASH}`],
    ["artifact with a name (no Artifacts.toml route)", `/artifact/${HASH}/Foo`],
    ["registry without hash", `/registry/${UUID}`],
    ["empty", ""],
  ])("rejects %s", (_, path) => {
    expect(parseResourcePath(path)).toBeNull();
  });
});

describe("registry lists", () => {
  it("keeps only exact registry lines", () => {
    const body = `/registry/${UUID}/${HASH}\n/registry/${UUID.toUpperCase()}/${HASH}\n/registry/not-a-uuid/${HASH}\ngarbage\n\n/registry/${UUID}/${HASH}x\n`;
    expect(parseRegistryList(body)).toEqual([{ uuid: UUID, treeHash: HASH }]);
  });

  it("formats one line per registry, sorted by UUID, ending in a newline", () => {
    const a = { uuid: "00000000-0000-0000-0000-000000000001", treeHash: HASH };
    const b = { uuid: "ffffffff-0000-0000-0000-000000000001", treeHash: HASH };
    expect(formatRegistryList([b, a])).toBe(`/registry/${a.uuid}/${HASH}\n/registry/${b.uuid}/${HASH}\n`);
  });
});
