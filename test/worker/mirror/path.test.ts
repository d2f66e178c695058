import { describe, expect, it } from "vitest";
import { MAX_MIRROR_PATH, parseMirrorPath } from "../../../worker/mirror/path";
import { indexVersions } from "../../../worker/mirror/versions";
import { ConfigError, parseBinaryMirrors, parseConfig } from "../../../worker/config";

describe("binary mirror paths (matched raw)", () => {
  it("parses /mirror/<name>/<path> into the bucket key under mirror/<name>/", () => {
    expect(parseMirrorPath("/mirror/julialang2/bin/versions.json")).toEqual({
      mirror: "julialang2",
      path: "bin/versions.json",
      key: "mirror/julialang2/bin/versions.json",
    });
    expect(parseMirrorPath("/mirror/julialang2/juliaup/versiondb/versiondb-1.17.4-x86_64-unknown-linux-gnu.json")?.path).toBe(
      "juliaup/versiondb/versiondb-1.17.4-x86_64-unknown-linux-gnu.json",
    );
    expect(parseMirrorPath("/mirror/julialangnightlies/bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz")?.mirror).toBe(
      "julialangnightlies",
    );
  });

  it.each([
    ["no path", "/mirror/julialang2"],
    ["an empty path", "/mirror/julialang2/"],
    ["a dot-dot segment", "/mirror/julialang2/bin/../secret"],
    ["a leading dot-dot", "/mirror/julialang2/../x"],
    ["a dot segment", "/mirror/julialang2/bin/./versions.json"],
    ["an empty segment", "/mirror/julialang2/bin//versions.json"],
    ["a trailing slash", "/mirror/julialang2/bin/"],
    ["a percent-encoded slash", "/mirror/julialang2/bin%2Fversions.json"],
    ["a percent-encoded dot", "/mirror/julialang2/bin/%2e%2e/x"],
    ["any percent-encoding", "/mirror/julialang2/bin/a%20b"],
    ["a backslash", "/mirror/julialang2/bin\\versions.json"],
    ["a colon (scheme smuggling)", "/mirror/julialang2/http:/evil.example/x"],
    ["an at sign", "/mirror/julialang2/@evil.example/x"],
    ["a query-like character", "/mirror/julialang2/bin/x;y"],
    ["an upper-case mirror name", "/mirror/Julialang2/bin/versions.json"],
    ["a mirror name with a dot", "/mirror/julialang2.evil/bin/versions.json"],
    ["a path over the limit", `/mirror/julialang2/${"a".repeat(MAX_MIRROR_PATH + 1)}`],
    ["another route", "/mirrors/julialang2/bin/versions.json"],
  ])("rejects %s", (_, path) => {
    expect(parseMirrorPath(path)).toBeNull();
  });

  it("accepts a path of exactly the limit", () => {
    expect(parseMirrorPath(`/mirror/julialang2/${"a".repeat(MAX_MIRROR_PATH)}`)).not.toBeNull();
  });
});

describe("versions.json index", () => {
  const doc = {
    "1.10.4": {
      stable: true,
      files: [
        {
          url: "https://julialang-s3.julialang.org/bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz",
          sha256: "A".repeat(64),
          size: 10,
          os: "linux",
        },
        { url: "https://julialang-s3.julialang.org/bin/linux/x64/1.10/julia-1.10.4-linux-i686.tar.gz", sha256: "not-a-digest", size: 10 },
        { url: "https://julialang-s3.julialang.org/bin/x.tar.gz", sha256: "b".repeat(64), size: -1 },
      ],
    },
    "1.0.0": { files: "not a list" },
  };

  it("maps each listed file's url path to its sha256 (lowercased) and size, leaving out malformed entries", () => {
    const index = indexVersions(JSON.stringify(doc));
    expect([...index.entries()]).toEqual([["bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz", { sha256: "a".repeat(64), size: 10 }]]);
  });

  it.each([
    ["an array", "[]"],
    ["not JSON", "<html>"],
    ["null", "null"],
  ])("refuses %s", (_, text) => {
    expect(() => indexVersions(text)).toThrow();
  });
});

describe("BINARY_MIRRORS and BINARY_MIRROR_TTL_SECONDS", () => {
  it("default to the two public buckets and ten minutes", () => {
    const config = parseConfig({});
    expect(config.binaryMirrors).toEqual([
      { name: "julialang2", base: "https://julialang2.s3.amazonaws.com" },
      { name: "julialangnightlies", base: "https://julialangnightlies.s3.amazonaws.com" },
    ]);
    expect(config.binaryMirrorTtlSeconds).toBe(600);
  });

  it("set to nothing turn the mirror off", () => {
    expect(parseConfig({ BINARY_MIRRORS: "" }).binaryMirrors).toEqual([]);
    expect(parseConfig({ BINARY_MIRRORS: "  " }).binaryMirrors).toEqual([]);
  });

  it("keep a base path and drop trailing slashes", () => {
    expect(parseBinaryMirrors("rel=https://mirror.example/julia/")).toEqual([{ name: "rel", base: "https://mirror.example/julia" }]);
  });

  it.each([
    ["no equals sign", { BINARY_MIRRORS: "https://julialang2.s3.amazonaws.com" }, "BINARY_MIRRORS"],
    ["a name with a slash", { BINARY_MIRRORS: "a/b=https://x.example" }, "BINARY_MIRRORS"],
    ["an upper-case name", { BINARY_MIRRORS: "Rel=https://x.example" }, "BINARY_MIRRORS"],
    ["a name twice", { BINARY_MIRRORS: "a=https://x.example,a=https://y.example" }, "BINARY_MIRRORS"],
    ["a base that is not a URL", { BINARY_MIRRORS: "a=not a url" }, "BINARY_MIRRORS"],
    ["a base with a query", { BINARY_MIRRORS: "a=https://x.example/?q=1" }, "BINARY_MIRRORS"],
    ["plain http to a host that is not loopback", { BINARY_MIRRORS: "a=http://x.example" }, "BINARY_MIRRORS"],
    ["a TTL of zero", { BINARY_MIRROR_TTL_SECONDS: "0" }, "BINARY_MIRROR_TTL_SECONDS"],
    ["a TTL that is not a number", { BINARY_MIRROR_TTL_SECONDS: "10m" }, "BINARY_MIRROR_TTL_SECONDS"],
  ])("refuse %s, naming the variable", (_, vars, variable) => {
    let error: unknown;
    try {
      parseConfig(vars);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
  });
});
