import { describe, expect, it } from "vitest";
import { ConfigError, configSummary, parseConfig, parseSecrets } from "../../worker/config";

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

  it("waits up to 10 s for a verified cold tarball of up to 16 MiB, unless told otherwise", () => {
    expect(parseConfig({}).verifyFirst).toEqual({ patienceMs: 10_000, maxBytes: 16 * 1024 * 1024 });
    expect(parseConfig({ VERIFY_FIRST_PATIENCE_MS: "250", VERIFY_FIRST_MAX_BYTES: "0" }).verifyFirst).toEqual({
      patienceMs: 250,
      maxBytes: 0,
    });
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
    ["a fractional byte count", { MULTIPART_PART_BYTES: "16777216.5" }, "MULTIPART_PART_BYTES"],
    ["a fractional timeout", { UPSTREAM_TIMEOUT_MS: "1500.5" }, "UPSTREAM_TIMEOUT_MS"],
    ["parts too large to hold in an isolate", { MULTIPART_PART_BYTES: String(64 * 1024 * 1024) }, "MULTIPART_PART_BYTES"],
    ["a multipart threshold under one part", { MULTIPART_THRESHOLD_BYTES: "1000" }, "MULTIPART_THRESHOLD_BYTES"],
    ["a single put over R2's limit (5 GiB less 5 MiB)", { MULTIPART_THRESHOLD_BYTES: String(5 * 1024 ** 3) }, "MULTIPART_THRESHOLD_BYTES"],
    [
      "a throughput window shorter than the idle timeout",
      { UPSTREAM_MIN_RATE_WINDOW_MS: "5000", UPSTREAM_IDLE_TIMEOUT_MS: "10000" },
      "UPSTREAM_MIN_RATE_WINDOW_MS",
    ],
    ["a failure memory over a minute", { UPSTREAM_FAILURE_TTL_SECONDS: "3600" }, "UPSTREAM_FAILURE_TTL_SECONDS"],
    ["no fill attempts at all", { FILL_MAX_ATTEMPTS: "0" }, "FILL_MAX_ATTEMPTS"],
    ["a verify-first wait past Pkg's 20 s abort", { VERIFY_FIRST_PATIENCE_MS: "20000" }, "VERIFY_FIRST_PATIENCE_MS"],
    ["a negative verify-first size", { VERIFY_FIRST_MAX_BYTES: "-1" }, "VERIFY_FIRST_MAX_BYTES"],
    ["a plain-http upstream that is not loopback", { UPSTREAM_SERVERS: "http://storage.example.org" }, "UPSTREAM_SERVERS"],
    [
      "a plain-http origin that is not loopback",
      { REGISTRIES: "23338594-aafe-5451-b93e-139f81909106=http://git.example.org/{hash}" },
      "REGISTRIES",
    ],
    [
      "a plain-http SQL API that is not loopback (it is sent the API token)",
      { ANALYTICS_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", ANALYTICS_SQL_URL: "http://sql.example.org/query" },
      "ANALYTICS_SQL_URL",
    ],
    [
      "a plain-http SQL API even with ALLOW_INSECURE_UPSTREAMS (that flag is for public tarballs, not a secret)",
      {
        ANALYTICS_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
        ANALYTICS_SQL_URL: "http://sql.example.org",
        ALLOW_INSECURE_UPSTREAMS: "true",
      },
      "ANALYTICS_SQL_URL",
    ],
    ["a registry that is not a UUID", { REGISTRIES: "General" }, "REGISTRIES"],
    ["an origin without {hash}", { REGISTRIES: "23338594-aafe-5451-b93e-139f81909106=https://git.example.org/tarball" }, "REGISTRIES"],
    [
      "a history for a registry not in REGISTRIES",
      { REGISTRY_HISTORY: "0b1a5e5e-0000-4000-8000-000000000001=https://h.example/commits" },
      "REGISTRY_HISTORY",
    ],
    ["a history that is not a URL", { REGISTRY_HISTORY: "23338594-aafe-5451-b93e-139f81909106=commits" }, "REGISTRY_HISTORY"],
    ["a history entry without a URL", { REGISTRY_HISTORY: "23338594-aafe-5451-b93e-139f81909106" }, "REGISTRY_HISTORY"],
    [
      "a plain-http history that is not loopback",
      { REGISTRY_HISTORY: "23338594-aafe-5451-b93e-139f81909106=http://h.example/commits" },
      "REGISTRY_HISTORY",
    ],
    ["a registry listed twice", { REGISTRIES: "23338594-aafe-5451-b93e-139f81909106,23338594-aafe-5451-b93e-139f81909106" }, "REGISTRIES"],
    ["an unclear insecure flag", { ALLOW_INSECURE_UPSTREAMS: "yes" }, "ALLOW_INSECURE_UPSTREAMS"],
    ["a negative cache over 60 s", { NEGATIVE_TTL_SECONDS: "3600" }, "NEGATIVE_TTL_SECONDS"],
    ["multipart parts under 5 MiB", { MULTIPART_PART_BYTES: "1024" }, "MULTIPART_PART_BYTES"],
    ["a prefix with ..", { PATH_PREFIX: "/a/../b" }, "PATH_PREFIX"],
    ["a prefix without a leading slash", { PATH_PREFIX: "julia" }, "PATH_PREFIX"],
    ["an unknown storage backend", { STORAGE: "gcs" }, "STORAGE"],
    ["an expansion ratio under 2", { VERIFY_MAX_RATIO: "1" }, "VERIFY_MAX_RATIO"],
    ["an expansion ratio that is not a number", { VERIFY_MAX_RATIO: "200:1" }, "VERIFY_MAX_RATIO"],
    ["no decompressed bytes at all", { VERIFY_MAX_DECOMPRESSED_BYTES: "0" }, "VERIFY_MAX_DECOMPRESSED_BYTES"],
    ["a fractional decompressed bound", { VERIFY_MAX_DECOMPRESSED_BYTES: "1e9" }, "VERIFY_MAX_DECOMPRESSED_BYTES"],
    ["S3 without an endpoint", { STORAGE: "s3", S3_BUCKET: "pkgedge" }, "S3_ENDPOINT"],
    ["S3 with a non-http endpoint", { STORAGE: "s3", S3_ENDPOINT: "ftp://x", S3_BUCKET: "pkgedge" }, "S3_ENDPOINT"],
    ["S3 without a bucket", { STORAGE: "s3", S3_ENDPOINT: "https://s3.example" }, "S3_BUCKET"],
    [
      "S3 with a bad path-style flag",
      { STORAGE: "s3", S3_ENDPOINT: "https://s3.example", S3_BUCKET: "pkgedge", S3_FORCE_PATH_STYLE: "maybe" },
      "S3_FORCE_PATH_STYLE",
    ],
  ])("names the variable for %s", (_, vars, variable) => {
    const err = errorOf(vars);
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
  });

  it("bounds what an archive may expand to: 200:1, and twice FILL_MAX_BYTES in all unless set", () => {
    const defaults = parseConfig({});
    expect(defaults.verifyMaxRatio).toBe(200);
    expect(defaults.verifyMaxDecompressedBytes).toBe(2 * defaults.fillMaxBytes);
    expect(parseConfig({ FILL_MAX_BYTES: "1000000" }).verifyMaxDecompressedBytes).toBe(2_000_000);
    const set = parseConfig({ VERIFY_MAX_RATIO: "50", VERIFY_MAX_DECOMPRESSED_BYTES: "123456789" });
    expect([set.verifyMaxRatio, set.verifyMaxDecompressedBytes]).toEqual([50, 123456789]);
  });

  it("says the rule a number broke", () => {
    expect(errorOf({ REGISTRY_TTL_SECONDS: "-5" }).message).toBe('REGISTRY_TTL_SECONDS: expected a whole number from 1 to 86400, got "-5"');
    expect(errorOf({ MULTIPART_THRESHOLD_BYTES: "1000" }).message).toMatch(
      /must be 0 \(always multipart\) or at least MULTIPART_PART_BYTES/,
    );
  });

  it("defaults REGISTRIES to General, checked against its GitHub repository", () => {
    expect(parseConfig({}).registries).toEqual([
      {
        uuid: "23338594-aafe-5451-b93e-139f81909106",
        originTemplate: "https://api.github.com/repos/JuliaRegistries/General/tarball/{hash}",
        historyUrl: "https://api.github.com/repos/JuliaRegistries/General/commits",
      },
    ]);
  });

  it("reads a registry's history where REGISTRY_HISTORY says, or nowhere (none)", () => {
    const uuid = "23338594-aafe-5451-b93e-139f81909106";
    expect(parseConfig({ REGISTRY_HISTORY: `${uuid}=http://127.0.0.1:9/history` }).registries[0]!.historyUrl).toBe(
      "http://127.0.0.1:9/history",
    );
    expect(parseConfig({ REGISTRY_HISTORY: `${uuid}=none` }).registries[0]!.historyUrl).toBeUndefined();
    // An origin that is not GitHub's tarball URL implies no history.
    expect(parseConfig({ REGISTRIES: `${uuid}=https://o.example/{hash}` }).registries[0]!.historyUrl).toBeUndefined();
  });

  it("takes registries with and without an origin", () => {
    const r = parseConfig({
      REGISTRIES: " 23338594-aafe-5451-b93e-139f81909106=https://o.example/{hash} , 0b1a5e5e-0000-4000-8000-000000000001 ",
    }).registries;
    expect(r).toEqual([
      { uuid: "23338594-aafe-5451-b93e-139f81909106", originTemplate: "https://o.example/{hash}" },
      { uuid: "0b1a5e5e-0000-4000-8000-000000000001" },
    ]);
  });

  it("allows plain http to loopback, as Pkg does, and elsewhere only when told to", () => {
    for (const url of ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"])
      expect(parseConfig({ UPSTREAM_SERVERS: url }).upstreams).toEqual([url]);
    expect(parseConfig({ UPSTREAM_SERVERS: "http://storage.example.org", ALLOW_INSECURE_UPSTREAMS: "true" }).upstreams).toEqual([
      "http://storage.example.org",
    ]);
  });

  it("takes an https SQL API anywhere and a plain-http one on loopback", () => {
    const account = "0123456789abcdef0123456789abcdef";
    for (const url of ["https://sql.example.org/q", "http://127.0.0.1:9999/q", "http://localhost/q"])
      expect(parseConfig({ ANALYTICS_ACCOUNT_ID: account, ANALYTICS_SQL_URL: url }).analyticsSql).toEqual({ account, url });
  });

  it("leaves the SQL API's address to the statistics code unless ANALYTICS_SQL_URL names another", () => {
    const account = "0123456789abcdef0123456789abcdef";
    expect(parseConfig({ ANALYTICS_ACCOUNT_ID: account }).analyticsSql).toEqual({ account, url: null });
    expect(parseConfig({}).analyticsSql).toBeNull();
  });

  it("accepts 0 as the multipart threshold: every object a multipart upload", () => {
    expect(parseConfig({ MULTIPART_THRESHOLD_BYTES: "0" }).multipartThresholdBytes).toBe(0);
  });

  it("accepts a mount prefix with or without a trailing slash", () => {
    expect(parseConfig({ PATH_PREFIX: "/julia/" }).pathPrefix).toBe("/julia");
    expect(parseConfig({ PATH_PREFIX: "/" }).pathPrefix).toBe("");
  });
});

describe("configuration checked as a whole", () => {
  it("reports every problem at once, each naming its variable and the rule it broke", () => {
    const err = errorOf({ REGISTRY_TTL_SECONDS: "-5", UPSTREAM_SERVERS: "ftp://x", STORAGE: "s3" });
    expect(err.problems.map((p) => p.variable).sort()).toEqual(["REGISTRY_TTL_SECONDS", "S3_BUCKET", "S3_ENDPOINT", "UPSTREAM_SERVERS"]);
    expect(err.variable.split(", ").sort()).toEqual(["REGISTRY_TTL_SECONDS", "S3_BUCKET", "S3_ENDPOINT", "UPSTREAM_SERVERS"]);
    expect(err.problems.find((p) => p.variable === "REGISTRY_TTL_SECONDS")!.message).toContain("expected a whole number from 1 to 86400");
  });

  it("keeps one problem as it was", () => {
    const err = errorOf({ REGISTRY_TTL_SECONDS: "soon" });
    expect(err.variable).toBe("REGISTRY_TTL_SECONDS");
    expect(err.problems).toHaveLength(1);
  });
});

describe("prefetch configuration", () => {
  const queue = { send() {} };

  it("prefetches packages by default when a queue is bound, and is off, saying why, when none is", () => {
    expect(parseConfig({ PREFETCH_QUEUE: queue }).prefetch).toMatchObject({
      mode: "packages",
      offBecause: null,
      gate: false,
      platforms: [],
    });
    expect(parseConfig({}).prefetch).toMatchObject({ mode: "off", offBecause: "no queue is bound as PREFETCH_QUEUE" });
  });

  it("reads the platforms, the lazy flag, the gate and the caps", () => {
    const p = parseConfig({
      PREFETCH_QUEUE: queue,
      PREFETCH: "all",
      PREFETCH_PLATFORMS: "x86_64-linux-gnu, aarch64-apple-darwin",
      PREFETCH_LAZY: "false",
      PREFETCH_GATE: "true",
      PREFETCH_CONCURRENCY: "2",
      PREFETCH_DAILY_BUDGET: "100",
      PREFETCH_DAILY_BYTES: "1073741824",
      PREFETCH_MAX_ARTIFACTS_PER_VERSION: "20",
      PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT: "400",
    }).prefetch;
    expect(p).toMatchObject({
      mode: "all",
      platforms: ["x86_64-linux-gnu", "aarch64-apple-darwin"],
      lazy: false,
      gate: true,
      concurrency: 2,
      dailyBudget: 100,
      dailyBytes: 1024 ** 3,
      maxArtifactsPerVersion: 20,
      maxArtifactsPerSnapshot: 400,
    });
  });

  it("caps artifacts and bytes by default", () => {
    expect(parseConfig({ PREFETCH_QUEUE: queue }).prefetch).toMatchObject({
      dailyBytes: 100 * 1024 ** 3,
      maxArtifactsPerVersion: 300,
      maxArtifactsPerSnapshot: 5000,
    });
  });

  it.each([
    ["an unknown mode", { PREFETCH_QUEUE: queue, PREFETCH: "some" }, "PREFETCH", /off, packages or all/],
    ["prefetching asked for with no queue", { PREFETCH: "all" }, "PREFETCH", /PREFETCH_QUEUE/],
    ["the gate with prefetching off", { PREFETCH_QUEUE: queue, PREFETCH: "off", PREFETCH_GATE: "true" }, "PREFETCH_GATE", /PREFETCH=off/],
    ["the gate with no queue", { PREFETCH_GATE: "true" }, "PREFETCH_GATE", /PREFETCH_QUEUE/],
    ["a platform that is not a triple", { PREFETCH_QUEUE: queue, PREFETCH_PLATFORMS: "linux" }, "PREFETCH_PLATFORMS", /triples/],
    ["no concurrency", { PREFETCH_QUEUE: queue, PREFETCH_CONCURRENCY: "0" }, "PREFETCH_CONCURRENCY", /1 to 32/],
    ["a byte budget that is not a number", { PREFETCH_QUEUE: queue, PREFETCH_DAILY_BYTES: "100G" }, "PREFETCH_DAILY_BYTES", /whole number/],
    [
      "an artifact cap beyond its range",
      { PREFETCH_QUEUE: queue, PREFETCH_MAX_ARTIFACTS_PER_VERSION: "100001" },
      "PREFETCH_MAX_ARTIFACTS_PER_VERSION",
      /0 to 100000/,
    ],
    [
      "a negative snapshot cap",
      { PREFETCH_QUEUE: queue, PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT: "-1" },
      "PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT",
      /whole number/,
    ],
  ])("refuses %s, naming the variable", (_what, vars, variable, message) => {
    const err = errorOf(vars);
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(message);
  });
});

describe("secrets", () => {
  it("fills one object from the table's secret rows, an empty value counting as not set", () => {
    expect(
      parseSecrets({
        GITHUB_TOKEN: "ghp_x",
        CLIENT_HASH_KEY: "",
        ANALYTICS_API_TOKEN: "at",
        S3_ACCESS_KEY_ID: "id",
        UPSTREAM_SERVERS: "x",
      }),
    ).toEqual({ githubToken: "ghp_x", analyticsToken: "at", s3AccessKeyId: "id" });
  });

  it("names both S3 secrets when STORAGE=s3 has neither", () => {
    let err: unknown;
    try {
      parseSecrets({ STORAGE: " S3 ", S3_SECRET_ACCESS_KEY: "" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY");
    expect(parseSecrets({ STORAGE: "r2" })).toEqual({});
  });

  it("shows in the summary whether each secret is set, never its value", () => {
    const secrets = parseSecrets({
      GITHUB_TOKEN: "ghp_value",
      ANALYTICS_API_TOKEN: "token value",
      S3_SECRET_ACCESS_KEY: "s3 value",
      UPSTREAM_CREDENTIALS: "https://us-east.storage.julialang.org=Bearer upstream value",
    });
    const summary = configSummary(parseConfig({}), secrets, false);
    const text = JSON.stringify(summary);
    for (const value of ["ghp_value", "token value", "s3 value", "upstream value"]) expect(text).not.toContain(value);
    expect(summary.secrets_set).toEqual({
      github_token: true,
      upstream_credentials: true,
      registry_credentials: false,
      client_hash_key: false,
      analytics_api_token: true,
      s3_access_key_id: false,
      s3_secret_access_key: true,
      metrics_token: false,
      auth_signing_key: false,
    });
  });
});

describe("zstd variants (ZSTD*)", () => {
  it("are made and served at level 9 by default, each setting read from its variable", () => {
    expect(parseConfig({}).zstd).toEqual({ mode: "on", level: 9, maxWindowBytes: 32 * 1024 ** 2, maxTranscodeBytes: 1024 ** 3 });
    expect(parseConfig({ ZSTD: "Serve", ZSTD_LEVEL: "3", ZSTD_MAX_WINDOW_BYTES: "1048576", ZSTD_MAX_TRANSCODE_BYTES: "0" }).zstd).toEqual({
      mode: "serve",
      level: 3,
      maxWindowBytes: 1024 ** 2,
      maxTranscodeBytes: 0,
    });
  });

  it.each([
    ["an unknown mode", { ZSTD: "yes" }, "ZSTD", /on, serve or off/],
    ["a level past 9 (the encoder would need 60-100 MB)", { ZSTD_LEVEL: "12" }, "ZSTD_LEVEL", /1 to 9/],
    [
      "a window past what an isolate holds",
      { ZSTD_MAX_WINDOW_BYTES: String(128 * 1024 ** 2) },
      "ZSTD_MAX_WINDOW_BYTES",
      /1048576 to 67108864/,
    ],
    ["a size that is not a number", { ZSTD_MAX_TRANSCODE_BYTES: "1G" }, "ZSTD_MAX_TRANSCODE_BYTES", /whole number/],
  ])("refuses %s, naming the variable", (_what, vars, variable, message) => {
    const err = errorOf(vars);
    expect(err.variable).toBe(variable);
    expect(String(err)).toMatch(message);
  });
});

describe("redirecting stored hits to the bucket's domain (STORED_REDIRECT_BASE)", () => {
  const SIGNING = "k".repeat(40);

  it("is off by default, and takes an https base (with or without a path) or plain http to loopback, without trailing slash", () => {
    expect(parseConfig({}).storedRedirectBase).toBeNull();
    expect(parseConfig({ STORED_REDIRECT_BASE: "https://pkg-cdn.example.org/" }).storedRedirectBase).toBe("https://pkg-cdn.example.org");
    expect(parseConfig({ STORED_REDIRECT_BASE: "https://cdn.example.org/julia" }).storedRedirectBase).toBe("https://cdn.example.org/julia");
    expect(parseConfig({ STORED_REDIRECT_BASE: "http://127.0.0.1:9100" }).storedRedirectBase).toBe("http://127.0.0.1:9100");
    expect(parseConfig({ STORED_REDIRECT_BASE: "https://cdn.example.org", AUTH: "off" }).storedRedirectBase).toBe(
      "https://cdn.example.org",
    );
  });

  it.each([
    ["plain http to a host that is not loopback", "http://cdn.example.org", /not https/],
    ["a scheme other than https", "ftp://cdn.example.org", /not https/],
    ["something that is not a URL", "cdn.example.org", /not a URL/],
    ["a query", "https://cdn.example.org/?x=1", /without credentials, query or fragment/],
    ["an empty query", "https://cdn.example.org/?", /without credentials, query or fragment/],
    ["a fragment", "https://cdn.example.org/#top", /without credentials, query or fragment/],
    ["credentials", "https://user:pw@cdn.example.org", /without credentials, query or fragment/],
    ["trailing junk the URL parser would rewrite", "https://cdn.example.org/a b", /not written as a plain URL/],
    ["dot segments", "https://cdn.example.org/x/../y", /not written as a plain URL/],
    ["a backslash", "https://cdn.example.org\\x", /not written as a plain URL/],
  ])("refuses %s, naming the variable", (_what, base, message) => {
    const err = errorOf({ STORED_REDIRECT_BASE: base });
    expect(err.variable).toBe("STORED_REDIRECT_BASE");
    expect(String(err)).toMatch(message);
  });

  it.each([
    ["a bare percent sign (not a percent-escape: every Location would be malformed)", "https://cdn.example.org/%"],
    ["a truncated percent-escape", "https://cdn.example.org/julia%2"],
    ["port 0 (nobody can connect to it: every redirect would fail)", "https://cdn.example.org:0"],
    ["an encoded slash hiding a dot segment the parser does not see", "https://cdn.example.org/julia%2F..%2Fother"],
  ])("refuses a base with %s, naming the variable", (_what, base) => {
    const err = errorOf({ STORED_REDIRECT_BASE: base });
    expect(err.variable).toBe("STORED_REDIRECT_BASE");
  });

  it.each(["protocol", "all", "external"])("is refused with AUTH=%s, the message naming both variables", (mode) => {
    const err = errorOf({ STORED_REDIRECT_BASE: "https://cdn.example.org", AUTH: mode, AUTH_SIGNING_KEY: SIGNING });
    expect(err.variable).toBe("STORED_REDIRECT_BASE");
    expect(String(err)).toContain(`AUTH=${mode}`);
    expect(String(err)).toContain("STORED_REDIRECT_BASE");
  });

  it("is shown in the configuration summary", () => {
    const config = parseConfig({ STORED_REDIRECT_BASE: "https://cdn.example.org" });
    expect(configSummary(config, {}, false).stored_redirect_base).toBe("https://cdn.example.org");
  });
});
