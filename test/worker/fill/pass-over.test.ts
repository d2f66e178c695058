import { describe, expect, it } from "vitest";
import { passOver } from "../../../worker/fill/pass-over";

const A = "http://a";
const B = "http://b";

describe("which upstreams a failed fill passes over", () => {
  it("bad bytes of one upstream pass it over", () => {
    expect(passOver({ blame: "upstream", suppliers: [A], brokeLast: A, othersHaveIt: true })).toEqual({
      quarantine: [A],
      wholeOnly: false,
    });
  });

  it("bad bytes of a continued fill pass nobody over, and make the next fill whole", () => {
    expect(passOver({ blame: "upstream", suppliers: [A, B], brokeLast: B, othersHaveIt: true })).toEqual({
      quarantine: [],
      wholeOnly: true,
    });
  });

  it("a break passes over only the upstream that broke last, and only where another upstream has the key", () => {
    expect(passOver({ blame: "broke", suppliers: [A, B], brokeLast: B, othersHaveIt: true })).toEqual({
      quarantine: [B],
      wholeOnly: false,
    });
    expect(passOver({ blame: "broke", suppliers: [A], brokeLast: A, othersHaveIt: false })).toEqual({ quarantine: [], wholeOnly: false });
  });

  it("an object that changed, a failed bucket write or a fill let go pass nobody over", () => {
    for (const blame of ["changed", "store", "abandoned"] as const) {
      expect(passOver({ blame, suppliers: [A, B], brokeLast: B, othersHaveIt: true })).toEqual({ quarantine: [], wholeOnly: false });
    }
  });
});
