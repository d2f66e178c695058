import { describe, expect, it } from "vitest";
import { parseRange } from "../../../worker/protocol/range";

const L = 2685; // the length of Example v0.5.3 in the reference server's tests

describe("byte ranges (RFC 9110, protocol.md §4.2 REC)", () => {
  it.each([
    ["bytes=0-1023 (C14)", "bytes=0-1023", { kind: "partial", start: 0, end: 1023 }],
    ["bytes=1024- (C15)", "bytes=1024-", { kind: "partial", start: 1024, end: L - 1 }],
    ["bytes=-2047 (C16)", "bytes=-2047", { kind: "partial", start: L - 2047, end: L - 1 }],
    ["bytes=0-10000 past the end (C17)", "bytes=0-10000", { kind: "partial", start: 0, end: L - 1 }],
    ["bytes=2-1 (C18)", "bytes=2-1", { kind: "unsatisfiable" }],
    ["bytes=L- (C19)", `bytes=${L}-`, { kind: "unsatisfiable" }],
    ["bytes=-0 (E18: RFC says unsatisfiable)", "bytes=-0", { kind: "unsatisfiable" }],
    ["a suffix longer than the object (E18) is the whole object", "bytes=-99999", { kind: "partial", start: 0, end: L - 1 }],
    ["whitespace is tolerated", "bytes = 5 - 9", { kind: "partial", start: 5, end: 9 }],
    ["multi-range (E19) is served whole", "bytes=0-1,5-9", { kind: "whole" }],
    ["another unit is ignored", "items=0-1", { kind: "whole" }],
    ["garbage is ignored", "bytes=abc", { kind: "whole" }],
    ["an empty spec is ignored", "bytes=-", { kind: "whole" }],
    ["no header", null, { kind: "whole" }],
  ])("%s", (_, header, expected) => {
    expect(parseRange(header, L)).toEqual(expected);
  });

  it("nothing is satisfiable in an empty object", () => {
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-1", 0)).toEqual({ kind: "unsatisfiable" });
  });
});
