/** SharedAnswer: one ask in flight, its answer kept for the TTL by the clock given, a rejection never kept. */

import { describe, expect, it } from "vitest";
import { SharedAnswer } from "../../../worker/ops/shared-answer";

describe("SharedAnswer", () => {
  it("shares one ask among concurrent callers, keeps its answer for the TTL, then asks again", async () => {
    let now = 1_000;
    let asked = 0;
    const shared = new SharedAnswer<number>(60_000, () => now);
    const ask = async () => {
      asked++;
      await new Promise((r) => setTimeout(r, 10));
      return asked;
    };
    expect(await Promise.all([shared.get(ask), shared.get(ask), shared.get(ask)])).toEqual([1, 1, 1]);
    now += 59_999;
    expect(await shared.get(ask)).toBe(1);
    now += 1;
    expect(await Promise.all([shared.get(ask), shared.get(ask)])).toEqual([2, 2]);
    expect(asked).toBe(2);
  });

  it("passes a rejection on without keeping it: the next caller asks again", async () => {
    let asked = 0;
    const shared = new SharedAnswer<string>(60_000, () => 0);
    const failing = async () => {
      asked++;
      throw new Error("down");
    };
    await expect(shared.get(failing)).rejects.toThrow("down");
    expect(await shared.get(async () => "up")).toBe("up");
    expect(asked).toBe(1);
  });
});
