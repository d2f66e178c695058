/** Cutting values from outside to a byte size: UTF-8 bytes counted, no character split; any data point within Analytics Engine's limits. */

import { describe, expect, it } from "vitest";
import { truncateUtf8, utf8Bytes } from "../../../worker/ops/bounded-text";
import { BLOBS_LIMIT_BYTES, dataPoint, INDEX_LIMIT_BYTES } from "../../../worker/ops/analytics";
import type { AccessRecord } from "../../../worker/ops/access-log";

describe("truncateUtf8", () => {
  it.each([
    ["short ASCII is kept", "1.10.4", 8, "1.10.4"],
    ["ASCII is cut at the byte count", "abcdefgh", 5, "abcde"],
    ["a two-byte letter is not split", "aé", 2, "a"],
    ["a three-byte character is not split", "ab€", 4, "ab"],
    ["a four-byte character (a surrogate pair) is not split", "a😀b", 4, "a"],
    ["whole characters up to the limit are kept", "é😀", 6, "é😀"],
    ["nothing fits", "😀", 3, ""],
  ])("%s", (_, value, max, expected) => {
    const cut = truncateUtf8(value, max);
    expect(cut).toBe(expected);
    expect(utf8Bytes(cut)).toBeLessThanOrEqual(max);
  });
});

describe("dataPoint", () => {
  it("fits Analytics Engine's limits whatever the record holds", () => {
    const huge = "😀é€x".repeat(20_000);
    const record: AccessRecord = {
      time: "",
      method: "GET",
      path: `/package/${huge}`,
      encoding: "zstd",
      status: 200,
      bytes: 1,
      broken: false,
      duration_ms: 1,
      cache: "hit",
      upstream: huge,
      kind: huge,
      uuid: huge,
      julia_version: huge,
      julia_system: huge,
      julia_ci_variables: `CI=t;${huge}`,
      julia_interactive: huge,
      julia_pkg_server: huge,
      user_agent: huge,
      request_id: "r",
      client: huge,
      country: huge,
      colo: huge,
    };
    const point = dataPoint(record);
    expect(point.blobs.reduce((n, b) => n + utf8Bytes(b), 0)).toBeLessThanOrEqual(BLOBS_LIMIT_BYTES);
    expect(utf8Bytes(point.indexes[0]!)).toBeLessThanOrEqual(INDEX_LIMIT_BYTES);
    expect(point.blobs.length).toBeLessThanOrEqual(20);
    expect(point.blobs[6]).toBe("ci");
    for (const b of point.blobs) expect(b).not.toContain("\uFFFD");
  });
});
