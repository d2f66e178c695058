import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../worker/config";

function errorOf(vars: Record<string, unknown>): ConfigError {
  try {
    parseConfig(vars);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("defaults to the official storage servers and a 60 s registry TTL", () => {
    const config = parseConfig({});
    expect(config.upstreams).toEqual(["https://us-east.storage.julialang.org", "https://kr.storage.julialang.org"]);
    expect(config.registryTtlSeconds).toBe(60);
    expect(config.pathPrefix).toBe("");
  });

  it("normalises upstream URLs and keeps their order and path", () => {
    expect(parseConfig({ UPSTREAM_SERVERS: " http://127.0.0.1:9000/ , https://mirror.example/julia/ " }).upstreams).toEqual([
      "http://127.0.0.1:9000",
      "https://mirror.example/julia",
    ]);
  });

  it.each([
    ["an empty upstream list", { UPSTREAM_SERVERS: " , " }, "UPSTREAM_SERVERS"],
    ["an upstream list set to nothing", { UPSTREAM_SERVERS: "" }, "UPSTREAM_SERVERS"],
    ["a non-http upstream", { UPSTREAM_SERVERS: "ftp://example.org" }, "UPSTREAM_SERVERS"],
    ["an upstream that is not a URL", { UPSTREAM_SERVERS: "not a url" }, "UPSTREAM_SERVERS"],
    ["a non-number TTL", { REGISTRY_TTL_SECONDS: "soon" }, "REGISTRY_TTL_SECONDS"],
    ["a negative TTL", { REGISTRY_TTL_SECONDS: "-5" }, "REGISTRY_TTL_SECONDS"],
    ["a negative cache over 60 s", { NEGATIVE_TTL_SECONDS: "3600" }, "NEGATIVE_TTL_SECONDS"],
    ["multipart parts under 5 MiB", { MULTIPART_PART_BYTES: "1024" }, "MULTIPART_PART_BYTES"],
    ["a prefix with ..", { PATH_PREFIX: "/a/../b" }, "PATH_PREFIX"],
    ["a prefix without a leading slash", { PATH_PREFIX: "julia" }, "PATH_PREFIX"],
    ["an unknown storage backend", { STORAGE: "gcs" }, "STORAGE"],
    ["S3 without an endpoint", { STORAGE: "s3", S3_BUCKET: "pkgedge" }, "S3_ENDPOINT"],
    ["S3 with a non-http endpoint", { STORAGE: "s3", S3_ENDPOINT: "ftp://x", S3_BUCKET: "pkgedge" }, "S3_ENDPOINT"],
    ["S3 without a bucket", { STORAGE: "s3", S3_ENDPOINT: "https://s3.example" }, "S3_BUCKET"],
    ["S3 with a bad path-style flag", { STORAGE: "s3", S3_ENDPOINT: "https://s3.example", S3_BUCKET: "pkgedge", S3_FORCE_PATH_STYLE: "maybe" }, "S3_FORCE_PATH_STYLE"],
  ])("names the variable for %s", (_, vars, variable) => {
    const err = errorOf(vars);
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
  });

  it("accepts a mount prefix with or without a trailing slash", () => {
    expect(parseConfig({ PATH_PREFIX: "/julia/" }).pathPrefix).toBe("/julia");
    expect(parseConfig({ PATH_PREFIX: "/" }).pathPrefix).toBe("");
  });
});
