import { describe, expect, it } from "vitest";
import { ifRangeHolds, type RangeValidators } from "../../../worker/routes/conditional";

const DATE = "Wed, 25 Nov 2026 10:00:00 GMT";
const immutable: RangeValidators = { etag: '"abc"', lastModified: DATE, strongDate: true };
const changeable: RangeValidators = { ...immutable, strongDate: false };
const weakEtag: RangeValidators = { ...immutable, etag: 'W/"abc"' };

describe("If-Range (RFC 9110 §13.1.5): does the range apply, or is the whole representation sent?", () => {
  it.each([
    ["no If-Range: the range applies", null, immutable, true],
    ["the same strong entity tag", '"abc"', immutable, true],
    ["the same tag with surrounding whitespace", '  "abc" ', immutable, true],
    ["another entity tag", '"abd"', immutable, false],
    ["a weak tag never matches, even the same one (strong comparison)", 'W/"abc"', immutable, false],
    ["a weak current ETag never matches", '"abc"', weakEtag, false],
    ["a weak tag against a weak ETag", 'W/"abc"', weakEtag, false],
    ["an unquoted tag is no entity tag", "abc", immutable, false],
    ["a list is no single validator", '"abc", "abd"', immutable, false],
    ["no current ETag", '"abc"', { ...immutable, etag: null }, false],
    ["the exact Last-Modified of content that never changes", DATE, immutable, true],
    ["the exact Last-Modified of content that can change (a weak date)", DATE, changeable, false],
    ["another date", "Wed, 25 Nov 2026 10:00:01 GMT", immutable, false],
    ["the same instant written otherwise is not the field value", "Wednesday, 25-Nov-26 10:00:00 GMT", immutable, false],
    ["a date with no Last-Modified", DATE, { ...immutable, lastModified: null }, false],
    ["garbage", "yesterday", immutable, false],
    ["an empty value", "", immutable, false],
  ] as const)("%s", (_, ifRange, validators, holds) => {
    expect(ifRangeHolds(ifRange, validators)).toBe(holds);
  });
});
