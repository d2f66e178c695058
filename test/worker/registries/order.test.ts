import { describe, expect, it } from "vitest";
import { chooseCandidates, collectSightings, newestFirst } from "../../../worker/registries/order";

const U = "23338594-aafe-5451-b93e-139f81909106";
const h = (c: string) => c.repeat(40);

function sightings(entries: Record<string, string[]>) {
  return new Map(Object.entries(entries).map(([hash, ups]) => [hash, new Set(ups)]));
}

describe("ordering advertised snapshots (spec §5.1)", () => {
  it("collects which upstreams advertise which hash, per registry", () => {
    const lists = new Map([
      ["A", [{ uuid: U, treeHash: h("2") }]],
      ["B", [{ uuid: U, treeHash: h("1") }]],
    ]);
    expect(collectSightings(lists).get(U)).toEqual(sightings({ [h("2")]: ["A"], [h("1")]: ["B"] }));
  });

  it("takes the hash the fewest upstreams know as the newest, ties in advertised order", () => {
    expect(newestFirst(sightings({ [h("1")]: ["A", "B"], [h("2")]: ["A"] }))).toEqual([h("2"), h("1")]);
    expect(newestFirst(sightings({ [h("1")]: ["A"], [h("2")]: ["B"] }))).toEqual([h("1"), h("2")]);
  });
});

describe("the monotonic guard", () => {
  it("walks newest first and stops at the published hash", () => {
    const s = sightings({ [h("3")]: ["A"], [h("2")]: ["A", "B"], [h("1")]: ["A", "B", "C"] });
    expect(chooseCandidates(s, h("2"), new Set(), new Set([h("3")])).candidates).toEqual([h("3"), h("2")]);
  });

  it("never offers a superseded hash, and reports a consensus that points backwards", () => {
    const s = sightings({ [h("1")]: ["A"], [h("2")]: ["A"] });
    const choice = chooseCandidates(s, h("2"), new Set([h("1")]), new Set([h("1")]));
    expect(choice.candidates).toEqual([h("2")]);
    expect(choice.consensusBackwards).toBe(true);
  });

  it("reports backwards when the published hash sorts newer than everything advertised (C49)", () => {
    const s = sightings({ [h("1")]: ["A", "B"], [h("2")]: ["A"] }); // 2 is published, no longer advertised
    const choice = chooseCandidates(s, h("2"), new Set(), new Set([h("1")]));
    expect(choice.candidates).toEqual([h("2")]);
    expect(choice.consensusBackwards).toBe(true);
  });

  it("moves forward when upstream advertises a new hash and still has the published one", () => {
    const s = sightings({ [h("2")]: ["A"], [h("1")]: ["A"] }); // a tie: the advertised hash counts as newer
    const choice = chooseCandidates(s, h("1"), new Set(), new Set([h("2")]));
    expect(choice.candidates).toEqual([h("2"), h("1")]);
    expect(choice.consensusBackwards).toBe(false);
  });
});
