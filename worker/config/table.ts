/**
 * Every variable and secret pkgedge reads: its kind, its default, its bounds and what it does.
 * Parsing takes kinds, defaults and bounds from here, the Env type of worker/env.d.ts is derived
 * from it, and test/worker/config/table.test.ts checks docs/configuration.md, wrangler.toml and
 * .dev.vars.example against it. Rules that tie variables together are code (rules.ts).
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** R2's (and S3's) largest single upload: 5 GiB less 5 MiB. */
const MAX_SINGLE_PUT_BYTES = 5 * GiB - 5 * MiB;
export const DEFAULT_UPSTREAMS = "https://us-east.storage.julialang.org,https://kr.storage.julialang.org";
const GENERAL_UUID = "23338594-aafe-5451-b93e-139f81909106";
export const DEFAULT_REGISTRIES = `${GENERAL_UUID}=https://api.github.com/repos/JuliaRegistries/General/tarball/{hash}`;
export const DEFAULT_BINARY_MIRRORS =
  "julialang2=https://julialang2.s3.amazonaws.com,julialangnightlies=https://julialangnightlies.s3.amazonaws.com";

/**
 * - `integer`: a whole number from `min` to `max` (byte, millisecond and second counts: fractions
 *   would reach buffer arithmetic);
 * - `flag`: true or false; `choice`: one of `choices`, any case;
 * - `list`: comma-separated items, each checked by its own parser (lists.ts);
 * - `text`: anything, checked by a rule if at all;
 * - `secret`: set with `wrangler secret put` (or .dev.vars), never shown; lands in `Secrets[field]`.
 * A row without `default` has none, or one a rule computes (the docs say which).
 */
export type VariableSpec =
  | { kind: "integer"; default?: number; min: number; max: number; doc: string }
  | { kind: "flag"; default: boolean; doc: string }
  | { kind: "choice"; default: string; choices: readonly string[]; doc: string }
  | { kind: "list"; default?: string; doc: string }
  | { kind: "text"; default?: string; doc: string }
  | { kind: "secret"; field: string; doc: string };

export const VARIABLES = {
  UPSTREAM_SERVERS: { kind: "list", default: DEFAULT_UPSTREAMS, doc: "upstream storage or Pkg servers, in preference order" },
  REGISTRY_TTL_SECONDS: { kind: "integer", default: 60, min: 1, max: 86400, doc: "how old the registry lists may get before revalidation" },
  NEGATIVE_TTL_SECONDS: { kind: "integer", default: 60, min: 0, max: 60, doc: "how long 'every upstream said 404' is remembered" },
  UPSTREAM_FAILURE_TTL_SECONDS: {
    kind: "integer",
    default: 5,
    min: 0,
    max: 60,
    doc: "how long 'no upstream could be asked' is remembered",
  },
  UPSTREAM_TIMEOUT_MS: {
    kind: "integer",
    default: 5000,
    min: 100,
    max: 60_000,
    doc: "HEAD probe and GET response-header timeout per upstream",
  },
  UPSTREAM_IDLE_TIMEOUT_MS: { kind: "integer", default: 10_000, min: 100, max: 60_000, doc: "abandon an upstream body silent this long" },
  UPSTREAM_MIN_BYTES_PER_SECOND: {
    kind: "integer",
    default: 8192,
    min: 0,
    max: 1024 * MiB,
    doc: "abandon a slower upstream body (0: no floor)",
  },
  UPSTREAM_MIN_RATE_WINDOW_MS: { kind: "integer", default: 20_000, min: 1000, max: 600_000, doc: "the window of that floor" },
  MULTIPART_THRESHOLD_BYTES: {
    kind: "integer",
    default: MAX_SINGLE_PUT_BYTES,
    min: 0,
    max: MAX_SINGLE_PUT_BYTES,
    doc: "larger (or unknown-length) objects use multipart upload; 0: always",
  },
  // A part of a body of unknown length is held in memory while it uploads: well below the 128 MB isolate limit.
  MULTIPART_PART_BYTES: { kind: "integer", default: 16 * MiB, min: 5 * MiB, max: 32 * MiB, doc: "multipart part size" },
  REGISTRIES: { kind: "list", default: DEFAULT_REGISTRIES, doc: "the registries published, each with the origin that confirms new hashes" },
  REGISTRY_HISTORY: {
    kind: "list",
    doc: "where each registry's history (its commits, newest first) is read: uuid=URL entries; default: its GitHub origin's commits",
  },
  ALLOW_INSECURE_UPSTREAMS: { kind: "flag", default: false, doc: "allow plain-http upstreams and origins beyond loopback" },
  PATH_PREFIX: { kind: "text", doc: "serve under a path, for JULIA_PKG_SERVER=https://host/julia" },
  // Rules (rules.ts): https (http only to loopback), no query, and AUTH=off: the bucket's domain is public.
  STORED_REDIRECT_BASE: {
    kind: "text",
    doc: "the bucket's public address (a custom domain); a GET of a stored tarball is then redirected there instead of streamed (unset: off)",
  },
  FILL_WINDOW_BYTES: {
    kind: "integer",
    default: 16 * MiB,
    min: 64 * 1024,
    max: 64 * MiB,
    doc: "bytes of a running fill kept for its requesters",
  },
  UNATTENDED_FILL_MAX_BYTES: {
    kind: "integer",
    default: 256 * MiB,
    min: 0,
    max: 1024 * GiB,
    doc: "larger fills stop once nobody reads them",
  },
  UNATTENDED_FILL_GRACE_SECONDS: { kind: "integer", default: 10, min: 0, max: 600, doc: "how long a fill waits for a reader" },
  // Pkg aborts a transfer below 1 byte/s for 20 s: a verified answer must start well inside that.
  VERIFY_FIRST_PATIENCE_MS: {
    kind: "integer",
    default: 10_000,
    min: 0,
    max: 15_000,
    doc: "how long a cold package or registry GET waits for a verified fill before it streams",
  },
  VERIFY_FIRST_MAX_BYTES: {
    kind: "integer",
    default: 16 * MiB,
    min: 0,
    max: 1024 * GiB,
    doc: "larger cold tarballs stream at once (0: every one streams)",
  },
  // A break halfway through costs the client its transfer (Pkg does not retry a package download);
  // three ranged GETs cover a reset on each of two other upstreams and one on the same after a pause.
  FILL_MAX_RESUMPTIONS: {
    kind: "integer",
    default: 3,
    min: 0,
    max: 20,
    doc: "ranged GETs a fill may make to continue after an upstream's body broke (0: a break fails the fill)",
  },
  FILL_MAX_ATTEMPTS: { kind: "integer", default: 5, min: 1, max: 100, doc: "failed fills of one key in a row before it is refused" },
  FILL_BACKOFF_SECONDS: { kind: "integer", default: 600, min: 1, max: 86400, doc: "how long such a key is refused" },
  // Kept equal to the verifier's own default (DEFAULT_MAX_ENTRIES) by the table test.
  VERIFY_MAX_ENTRIES: { kind: "integer", default: 250_000, min: 1, max: 10_000_000, doc: "archives with more entries are refused" },
  // About 7 s of CPU per GiB verified (npm run bench -- verify: 148 MB/s as a fill feeds it); 12 GiB
  // takes about 90 s, well inside the 5-minute cpu_ms (wrangler.toml [limits]) on a slower machine too.
  FILL_MAX_BYTES: { kind: "integer", default: 12 * GiB, min: 1, max: 1024 * GiB, doc: "larger objects are refused" },
  // Kept equal to the verifier's own default (DEFAULT_MAX_RATIO) by the table test.
  VERIFY_MAX_RATIO: { kind: "integer", default: 200, min: 2, max: 100_000, doc: "archives expanding more times (past 64 MiB) are refused" },
  // Default: twice FILL_MAX_BYTES (rules.ts).
  VERIFY_MAX_DECOMPRESSED_BYTES: { kind: "integer", min: 1, max: 4096 * GiB, doc: "archives expanding to more bytes are refused" },
  ZSTD: {
    kind: "choice",
    default: "on",
    choices: ["on", "serve", "off"],
    doc: "zstd variants for clients that ask (Julia 1.13+): made and served, only served when in the bucket, or neither",
  },
  // The encoder's memory grows with the level: 31 MB at 9, 63 MB at 12, 104 MB at 19 (Node 22,
  // 30 MB of tar streamed): above 9 it does not fit beside a verifier in a 128 MB isolate.
  ZSTD_LEVEL: { kind: "integer", default: 9, min: 1, max: 9, doc: "the zstd level variants are made at" },
  ZSTD_MAX_WINDOW_BYTES: {
    kind: "integer",
    default: 32 * MiB,
    min: MiB,
    max: 64 * MiB,
    doc: "zstd frames needing a larger window (decoder memory) are refused",
  },
  ZSTD_MAX_TRANSCODE_BYTES: {
    kind: "integer",
    // About 22-34 s per GB of tar at level 9 (npm run bench -- zstd), tar 3 times the gzip: about
    // 100 s for 1 GiB of gzip, inside the 5-minute CPU limit (wrangler.toml) with room to spare.
    default: GiB,
    min: 0,
    max: 64 * GiB,
    doc: "gzip tarballs larger than this get no zstd variant (CPU time)",
  },
  S3_TIMEOUT_MS: { kind: "integer", default: 10_000, min: 100, max: 120_000, doc: "with STORAGE=s3: per-request timeout" },
  STORAGE: { kind: "choice", default: "r2", choices: ["r2", "s3"], doc: "the BUCKET binding (r2) or an S3-compatible bucket (s3)" },
  S3_ENDPOINT: { kind: "text", doc: "with STORAGE=s3: the endpoint URL" },
  S3_BUCKET: { kind: "text", doc: "with STORAGE=s3: the bucket name" },
  S3_REGION: { kind: "text", default: "auto", doc: "with STORAGE=s3: the SigV4 region" },
  S3_FORCE_PATH_STYLE: { kind: "flag", default: true, doc: "with STORAGE=s3: endpoint/bucket/key rather than bucket.endpoint/key" },
  S3_ACCESS_KEY_ID: { kind: "secret", field: "s3AccessKeyId", doc: "with STORAGE=s3: the access key" },
  S3_SECRET_ACCESS_KEY: { kind: "secret", field: "s3SecretAccessKey", doc: "with STORAGE=s3: the secret key" },
  BINARY_MIRRORS: { kind: "list", default: DEFAULT_BINARY_MIRRORS, doc: "Julia binary buckets under /mirror/<name>/ (set empty: off)" },
  BINARY_MIRROR_TTL_SECONDS: {
    kind: "integer",
    default: 600,
    min: 1,
    max: 86400 * 7,
    doc: "how old a mirrored copy that can change may get",
  },
  SIBLINGS: { kind: "list", doc: "other servers of the deployment, for /meta/siblings" },
  ACCESS_LOG: { kind: "choice", default: "all", choices: ["all", "errors", "off"], doc: "which requests get an access-log line" },
  LOG_FORMAT: {
    kind: "choice",
    default: "json",
    choices: ["json", "text"],
    doc: "log lines as JSON objects, or compact text for a terminal",
  },
  GITHUB_TOKEN: { kind: "secret", field: "githubToken", doc: "authenticates origin checks on api.github.com" },
  UPSTREAM_CREDENTIALS: {
    kind: "secret",
    field: "upstreamCredentials",
    doc: "Authorization header values for private upstreams: <base URL>=<value> entries, each base one of UPSTREAM_SERVERS or BINARY_MIRRORS",
  },
  REGISTRY_CREDENTIALS: {
    kind: "secret",
    field: "registryCredentials",
    doc: "Authorization header values for private registries' origins: <uuid>=<value> entries, each uuid one of REGISTRIES",
  },
  CLIENT_HASH_KEY: { kind: "secret", field: "clientHashKey", doc: "logs a keyed hash of each client address" },
  ANALYTICS_ACCOUNT_ID: { kind: "text", doc: "the account /meta/stats asks Analytics Engine about" },
  ANALYTICS_API_TOKEN: { kind: "secret", field: "analyticsToken", doc: "lets /meta/stats read Analytics Engine" },
  METRICS_TOKEN: {
    kind: "secret",
    field: "metricsToken",
    doc: "turns on /metrics (Prometheus), for scrapers that send it as a bearer token",
  },
  AUTH: {
    kind: "choice",
    default: "off",
    choices: ["off", "protocol", "all", "external"],
    doc: "which routes need a bearer token: none, the protocol routes and /mirror/, or all but /robots.txt; external: none, access being controlled in front of pkgedge",
  },
  AUTH_SIGNING_KEY: {
    kind: "secret",
    field: "authSigningKey",
    doc: "signs and checks tokens (at least 32 characters); needed when AUTH is on",
  },
  AUTH_ACCESS_TTL_SECONDS: {
    kind: "integer",
    default: 86400,
    // Pkg refreshes a token that expires within 10 minutes: a shorter one would refresh before every request.
    min: 900,
    max: 30 * 86400,
    doc: "how long an access token from /auth/refresh lives",
  },
  AUTH_REVOCATION_TTL_SECONDS: {
    kind: "integer",
    default: 60,
    min: 1,
    max: 3600,
    doc: "how old an isolate's copy of the revocation list may get (a revocation takes effect within it)",
  },
  // Default: a sentence saying to ask the server's operator (worker/auth/answers.ts).
  AUTH_HELP: { kind: "text", doc: "where users get a token (a URL or an address), shown in every 401" },
  // Default: the Cloudflare API for ANALYTICS_ACCOUNT_ID (rules.ts).
  ANALYTICS_SQL_URL: { kind: "text", doc: "another address of the SQL API (https unless loopback)" },
  PKGEDGE_RUN_ID: { kind: "text", doc: "an identity for this run, shown in /meta as run_id" },
  PREFETCH: { kind: "choice", default: "packages", choices: ["off", "packages", "all"], doc: "what new registry snapshots prefetch" },
  PREFETCH_PLATFORMS: { kind: "list", doc: "with all: the platform triples whose artifacts are prefetched (none: all)" },
  PREFETCH_LAZY: { kind: "flag", default: true, doc: "with all: lazy artifacts too" },
  PREFETCH_GATE: { kind: "flag", default: false, doc: "publish conservatively only once a snapshot is prefetched" },
  PREFETCH_CONCURRENCY: { kind: "integer", default: 4, min: 1, max: 32, doc: "prefetch fills at once per consumer invocation" },
  PREFETCH_DAILY_BUDGET: { kind: "integer", default: 20_000, min: 0, max: 10_000_000, doc: "prefetch fills per UTC day" },
  PREFETCH_DAILY_BYTES: { kind: "integer", default: 100 * GiB, min: 0, max: 1024 ** 5, doc: "bytes prefetch fills may store per UTC day" },
  PREFETCH_MAX_ARTIFACTS_PER_VERSION: { kind: "integer", default: 300, min: 0, max: 100_000, doc: "artifacts queued per package version" },
  PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT: { kind: "integer", default: 5000, min: 0, max: 1_000_000, doc: "artifacts queued per snapshot" },
  PREFETCH_RETRY_DELAY_SECONDS: { kind: "integer", default: 60, min: 0, max: 3600, doc: "first retry after a failure, doubled each time" },
} as const satisfies Record<string, VariableSpec>;

/** The bindings pkgedge reads (typed in worker/env.d.ts, documented beside the variables). */
export const BINDINGS = ["BUCKET", "FILLS", "ANALYTICS", "PREFETCH_QUEUE", "PREFETCH_LEDGERS", "PREFETCH_BUDGET"] as const;

type Table = typeof VARIABLES;
export type VariableName = keyof Table;
type NamesOf<K extends VariableSpec["kind"]> = { [N in VariableName]: Table[N]["kind"] extends K ? N : never }[VariableName];
export type IntegerName = NamesOf<"integer">;
export type FlagName = NamesOf<"flag">;
export type ChoiceName = NamesOf<"choice">;
export type TextName = NamesOf<"text">;
export type SecretName = NamesOf<"secret">;

/** What the environment may carry for the table: every variable and secret optional, all strings. */
export type ConfigVariables = { [N in VariableName]?: string };

/** The secrets that are set, by their field name: filled in one place (secrets.ts), never shown. */
export type Secrets = { [N in SecretName as Table[N]["field"]]?: string };
