import { describe, expect, it } from "vitest";
import { observe, olderThan, quorumHolds, rankCandidates, type Observation } from "../../../worker/registries/order";

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

const none = new Set<string>();

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

describe("which hash may replace the published one", () => {
  it("takes a hash fewer upstreams hold as newer (REF's rule), newest first", () => {
    const obs = world({ [h("3")]: [["A"], []], [h("2")]: [["B"], ["A"]], [h("1")]: [["C"], ["A", "B"]] }, ["A", "B", "C"]);
    expect(rankCandidates(obs, h("1"), none).candidates).toEqual([h("3"), h("2")]);
  });

  it("stays on an honest tie: A lists H3 and stores H4, B lists H4 (published) and stores H3", () => {
    const obs = world({ [h("3")]: [["A"], ["B"]], [h("4")]: [["B"], ["A"]] }, ["A", "B"]);
    const ranking = rankCandidates(obs, h("4"), none);
    expect(ranking.candidates).toEqual([]);
    expect(ranking.refused).toEqual([{ hash: h("3"), reason: "tie" }]);
    expect(ranking.backwards).toBe(false);
  });

  it("stays after an outage: A comes back listing H4 while B lists the published H5 that both store", () => {
    const obs = world({ [h("4")]: [["A"], ["B"]], [h("5")]: [["B"], ["A"]] }, ["A", "B"]);
    expect(rankCandidates(obs, h("5"), none).candidates).toEqual([]);
  });

  it("moves on a tie once every upstream lists the new hash and none the published one", () => {
    const obs = world({ [h("4")]: [["A", "B"], []], [h("3")]: [[], ["A", "B"]] }, ["A", "B"]);
    expect(rankCandidates(obs, h("3"), none).candidates).toEqual([h("4")]);
  });

  it("offers a tie that one answering upstream of two moved on to, but no quorum backs it (only the origin can)", () => {
    const obs = world({ [h("4")]: [["A"], []], [h("3")]: [[], ["A"]] }, ["A"], 2);
    expect(rankCandidates(obs, h("3"), none).candidates).toEqual([h("4")]);
    expect(quorumHolds(obs, h("4"))).toBe(false);
  });

  it("advances on a single upstream that keeps every snapshot", () => {
    const obs = world({ [h("2")]: [["A"], []], [h("1")]: [[], ["A"]] }, ["A"]);
    expect(rankCandidates(obs, h("1"), none).candidates).toEqual([h("2")]);
  });

  it("refuses a hash more upstreams hold than the published one while the published one is still listed: it is older", () => {
    const obs = world({ [h("1")]: [["B"], ["A"]], [h("2")]: [["A"], []] }, ["A", "B"]);
    const ranking = rankCandidates(obs, h("2"), none);
    expect(ranking.candidates).toEqual([]);
    expect(ranking.refused).toEqual([{ hash: h("1"), reason: "older" }]);
  });

  it("never offers a hash pkgedge published and replaced, and reports the rollback", () => {
    const obs = world({ [h("1")]: [["A"], []], [h("2")]: [[], ["A"]] }, ["A"]);
    const ranking = rankCandidates(obs, h("2"), new Set([h("1")]));
    expect(ranking.candidates).toEqual([]);
    expect(ranking.refused).toEqual([{ hash: h("1"), reason: "superseded" }]);
    expect(ranking.backwards).toBe(true);
  });

  it("ranks by holders, then listers, then hash: never by the order of UPSTREAM_SERVERS", () => {
    const a = world({ [h("a")]: [["A"], []], [h("b")]: [["B"], []] }, ["A", "B"]);
    const b = world({ [h("b")]: [["A"], []], [h("a")]: [["B"], []] }, ["A", "B"]);
    expect(rankCandidates(a, undefined, none).candidates).toEqual(rankCandidates(b, undefined, none).candidates);
  });

  it("treats a published hash no answering upstream has as saying nothing", () => {
    const obs = world({ [h("9")]: [["A", "B"], []], [h("1")]: [[], []] }, ["A", "B"]);
    expect(rankCandidates(obs, h("1"), none).candidates).toEqual([h("9")]);
  });
});

describe("hashes known to be older", () => {
  it("records, when a hash is adopted, the listed hashes more upstreams held (C49's snapshot 0)", () => {
    const obs = world({ [h("1")]: [["B"], ["A"]], [h("2")]: [["A"], []] }, ["A", "B"]);
    expect(olderThan(obs, h("2"))).toEqual([h("1")]);
  });

  it("refuses a passed hash even when every upstream moves to it (a rollback pkgedge watched happen)", () => {
    const obs = world({ [h("1")]: [["A", "B"], []], [h("2")]: [[], ["A"]] }, ["A", "B"]);
    expect(rankCandidates(obs, h("2"), none, new Set([h("1")])).refused).toEqual([{ hash: h("1"), reason: "older" }]);
  });

  it("follows every upstream to a new hash even if one never stored the published snapshot (it skipped it)", () => {
    const obs = world({ [h("3")]: [["A", "B"], []], [h("2")]: [[], ["A"]] }, ["A", "B"]);
    expect(rankCandidates(obs, h("2"), none).candidates).toEqual([h("3")]);
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
