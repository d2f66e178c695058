import { describe, expect, it } from "vitest";
import { acceptsZstd, clientAcceptEncoding } from "../../../worker/protocol/encoding";

describe("which clients are given zstd (protocol.md §4.4)", () => {
  it.each<[string, string | null, boolean]>([
    ["Julia 1.13's exact header", "zstd, gzip", true],
    ["no header (Julia 1.12 and older, curl)", null, false],
    ["an empty header", "", false],
    ["gzip only", "gzip", false],
    ["identity", "identity", false],
    ["zstd alone", "zstd", true],
    ["any case, any spacing", "GZIP ,  ZsTd", true],
    ["zstd with a q above zero", "gzip;q=1.0, zstd;q=0.5", true],
    ["zstd refused with q=0", "zstd;q=0, gzip", false],
    ["zstd refused with q=0.000", "zstd; q=0.000, gzip", false],
    ["an unreadable q counts as zero", "zstd;q=high", false],
    ["a q above one counts as zero", "zstd;q=2", false],
    ["a wildcard does not ask for zstd", "*", false],
    ["br and deflate do not either", "br, deflate", false],
    ["a coding that only starts with zstd", "zstdx, gzip", false],
  ])("%s", (_, header, expected) => {
    expect(acceptsZstd(header)).toBe(expected);
  });
});

describe("the Accept-Encoding the client sent", () => {
  it("is the edge's record of it when the edge replaced the header (as Cloudflare and wrangler dev do)", () => {
    const replaced = new Request("http://pkgedge.test/", { headers: { "accept-encoding": "br, gzip" } });
    Object.defineProperty(replaced, "cf", { value: { clientAcceptEncoding: "zstd, gzip" } });
    expect(clientAcceptEncoding(replaced)).toBe("zstd, gzip");
    expect(acceptsZstd(clientAcceptEncoding(replaced))).toBe(true);
  });

  it("is the header when the edge left it alone", () => {
    expect(clientAcceptEncoding(new Request("http://pkgedge.test/", { headers: { "accept-encoding": "zstd" } }))).toBe("zstd");
    expect(clientAcceptEncoding(new Request("http://pkgedge.test/"))).toBeNull();
  });
});
