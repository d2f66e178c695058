/** How long the prefetch queue holds a failed item back: doubling from the configured base, capped at an hour. */

import { describe, expect, it } from "vitest";
import { retryDelaySeconds } from "../../../worker/prefetch/prefetch";

describe("the prefetch retry delay", () => {
  it("doubles from the base with each failed delivery", () => {
    expect([1, 2, 3, 4, 5, 6].map((attempts) => retryDelaySeconds(1, attempts))).toEqual([1, 2, 4, 8, 16, 32]);
    expect([1, 2, 3, 4, 5, 6].map((attempts) => retryDelaySeconds(60, attempts))).toEqual([60, 120, 240, 480, 960, 1920]);
  });

  it("is never more than an hour", () => {
    expect(retryDelaySeconds(60, 7)).toBe(3600);
    expect(retryDelaySeconds(3600, 1)).toBe(3600);
    expect(retryDelaySeconds(1, 40)).toBe(3600);
  });

  it("is immediate with a base of 0, and a first delivery (no attempts counted) waits the base", () => {
    expect([1, 2, 3].map((attempts) => retryDelaySeconds(0, attempts))).toEqual([0, 0, 0]);
    expect(retryDelaySeconds(5, 0)).toBe(5);
  });
});
