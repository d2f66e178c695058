import { describe, expect, it } from "vitest";
import { observe, quorumHolds, type Observation } from "../../../worker/registries/order";

const U = "23338594-aafe-5451-b93e-139f81909106";
const h = (c: string) => c.repeat(40);

/** An observation from `{ hash: [listers, holders-that-only-store] }` and who answered. */
function world(hashes: Record<string, [string[], string[]]>, responders: string[], configured = responders.length): Observation {
  return {
    responders: new Set(responders),
    configured,
    hashes: new Map(
      Object.entries(hashes).map(([hash, [listers, storers]]) => [
        hash,
        { listers: new Set(listers), holders: new Set([...listers, ...storers]) },
      ]),
    ),
  };
}

describe("observing what upstreams list", () => {
  it("collects who lists which hash, per registry", () => {
    const lists = new Map([
      ["A", [{ uuid: U, treeHash: h("2") }]],
      ["B", [{ uuid: U, treeHash: h("1") }]],
    ]);
    const obs = observe(lists, 2).get(U)!;
    expect([...obs.responders]).toEqual(["A", "B"]);
    expect([...obs.hashes.get(h("2"))!.listers]).toEqual(["A"]);
    expect([...obs.hashes.get(h("1"))!.holders]).toEqual(["B"]);
  });
});

describe("an upstream that lists one registry many times", () => {
  it("is heard once per registry (its first line), so its extra hashes cannot crowd out another upstream's advance", () => {
    const junk = ["1", "2", "3", "4", "5", "6"].map((c) => ({ uuid: U, treeHash: h(c) }));
    const lists = new Map([
      ["X", junk],
      ["B", [{ uuid: U, treeHash: h("9") }]],
    ]);
    const obs = observe(lists, 2).get(U)!;
    expect([...obs.hashes.keys()].sort()).toEqual([h("1"), h("9")]);
  });
});

describe("the quorum", () => {
  it("needs every answering upstream, and at least two of them when two or more are configured", () => {
    expect(quorumHolds(world({ [h("1")]: [["A"], ["B"]] }, ["A", "B"]), h("1"))).toBe(true);
    expect(quorumHolds(world({ [h("1")]: [["A"], []] }, ["A", "B"]), h("1"))).toBe(false);
    expect(quorumHolds(world({ [h("1")]: [["A"], []] }, ["A"], 2), h("1"))).toBe(false);
    expect(quorumHolds(world({ [h("1")]: [["A"], []] }, ["A"], 1), h("1"))).toBe(true);
  });
});
