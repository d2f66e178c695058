import { describe, expect, it } from "vitest";
import { chooseFlavor } from "../../../worker/protocol/flavors";

describe("registry flavor selection (protocol.md §3.1)", () => {
  it.each([
    ["no headers → conservative (C1)", null, null, "conservative"],
    ["CI=t among others → eager (C2)", null, "APPVEYOR=n;CI=t;GITHUB_ACTIONS=t", "eager"],
    ["explicit eager (C3)", "eager", null, "eager"],
    ["explicit conservative beats CI (C4, E6)", "conservative", "CI=t", "conservative"],
    ["only =t counts (C5)", null, "CI=f;TRAVIS=n;JULIA_CI=o", "conservative"],
    ["a path in the preference falls back to the default (C52)", "../../x", null, "conservative"],
    ["an unknown preference falls back to the default (E5)", "bogus", "CI=t", "conservative"],
    ["preference is case-insensitive", "Eager", null, "eager"],
  ])("%s", (_, preference, ci, expected) => {
    expect(chooseFlavor(preference, ci)).toBe(expected);
  });
});
