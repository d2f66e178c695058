import { describe, expect, it } from "vitest";
import { backoffLeftSeconds, begun, countAfter, NO_ATTEMPTS, settledAs } from "../../../worker/fill/attempts";

const POLICY = { maxAttempts: 3, backoffSeconds: 300 };
const T = 1_800_000_000_000;

describe("the fill backoff (seconds a key is still refused for)", () => {
  it.each([
    ["no failures: none", NO_ATTEMPTS, T, 0],
    ["fewer failures than the limit: none", { count: 2, lastAt: T }, T, 0],
    ["the limit, just failed: 300 s", { count: 3, lastAt: T }, T, 300],
    ["the limit, a second later: 299 s", { count: 3, lastAt: T }, T + 1000, 299],
    ["the limit, a millisecond later: 300 s (rounded up)", { count: 3, lastAt: T }, T + 1, 300],
    ["the limit, a millisecond before the end: 1 s", { count: 3, lastAt: T }, T + 299_999, 1],
    ["the limit, at the end: none", { count: 3, lastAt: T }, T + 300_000, 0],
    ["more than the limit, after the end: none", { count: 7, lastAt: T }, T + 300_001, 0],
    ["more than the limit, a minute in: 240 s", { count: 7, lastAt: T }, T + 60_000, 240],
  ])("%s", (_, attempts, now, seconds) => {
    expect(backoffLeftSeconds(attempts, POLICY, now)).toBe(seconds);
  });

  it("refuses nothing when one attempt is the limit and the backoff is zero", () => {
    expect(backoffLeftSeconds({ count: 1, lastAt: T }, { maxAttempts: 1, backoffSeconds: 0 }, T)).toBe(0);
  });

  it("counts a fill as failed from the moment it begins", () => {
    expect(begun(NO_ATTEMPTS, T)).toEqual({ count: 1, lastAt: T });
    expect(begun({ count: 2, lastAt: T - 5000 }, T)).toEqual({ count: 3, lastAt: T });
  });

  it.each([
    ["a commit clears the count", "committed", { count: 0, lastAt: 0 }],
    ["a failure keeps the count the beginning left", "failed", null],
    ["a fill let go on purpose gives its attempt back", "let-go", { count: 2, lastAt: T - 5000 }],
    ["a fill that fetched nothing gives its attempt back", "nothing-fetched", { count: 2, lastAt: T - 5000 }],
  ] as const)("%s", (_, settled, after) => {
    expect(countAfter({ count: 2, lastAt: T - 5000 }, settled)).toEqual(after);
  });

  it.each([
    [{ committed: true, upstream: "u", bytes: 1 }, "committed"],
    [{ committed: false, upstream: "u", reason: "bad bytes", blame: "upstream" }, "failed"],
    [{ committed: false, upstream: "u", reason: "bucket down", blame: "store" }, "failed"],
    [{ committed: false, upstream: "u", reason: "nobody reads it", blame: "abandoned" }, "let-go"],
  ] as const)("an outcome %o settles as %s", (outcome, settled) => {
    expect(settledAs(outcome)).toBe(settled);
  });
});
