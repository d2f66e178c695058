/** The parsed configuration: what the rest of the worker reads, never the raw variables. */

import type { BinaryMirror, RegistryConfig } from "./lists";

export interface Config {
  /** Upstream base URLs (storage servers or Pkg servers), without trailing slash, in preference order. */
  upstreams: string[];
  /** How old the stored registry list may get before a request revalidates it in the background. */
  registryTtlSeconds: number;
  /** How long "every upstream answered 404" is remembered, so a storm of requests does not hammer upstream. */
  negativeTtlSeconds: number;
  /** How long "no upstream could be asked" (5xx, timeout, DNS, refused) is remembered: briefly, it is not an answer. */
  failureTtlSeconds: number;
  /** Per-upstream timeout for the HEAD probe and for response headers of a GET. */
  upstreamTimeoutMs: number;
  /** A body that delivers nothing for this long is abandoned (the client would give up at 20 s). */
  upstreamIdleTimeoutMs: number;
  /** A body slower than this, measured over `upstreamMinRateWindowMs` of waiting for it, is abandoned. */
  upstreamMinBytesPerSecond: number;
  upstreamMinRateWindowMs: number;
  /** Objects larger than this (or of unknown length) are written with multipart upload; 0: always. */
  multipartThresholdBytes: number;
  /** Part size for multipart uploads (R2 and S3 need at least 5 MiB, except the last part). */
  multipartPartBytes: number;
  /** Which bucket is the cache: the R2 binding, or an S3-compatible bucket (secrets come from the env). */
  storage: StorageConfig;
  /** Bytes of a running fill held in memory for the requesters streaming it (constant memory). */
  fillWindowBytes: number;
  /** Larger objects (or of unknown length) are not filled on once nobody has read them for the grace period. */
  unattendedFillMaxBytes: number;
  unattendedFillGraceSeconds: number;
  /**
   * A cold tarball GET waits this long for its fill to verify and commit, and is then answered
   * from the bucket; past the patience, or for an object larger than `maxBytes` (0: always), it
   * streams from the running fill with its last bytes held back.
   */
  verifyFirst: { patienceMs: number; maxBytes: number };
  /** Ranged GETs a fill may make to continue past an upstream's broken body (0: none). */
  fillMaxResumptions: number;
  /** After this many failed fills in a row, a key is refused for `fillBackoffSeconds`. */
  fillMaxAttempts: number;
  fillBackoffSeconds: number;
  /** Archives with more entries than this are refused (the tree builder's memory grows with entries). */
  verifyMaxEntries: number;
  /** Larger objects are refused: verifying them would take longer than the Workers CPU limit allows. */
  fillMaxBytes: number;
  /** Archives expanding more than this many times their compressed bytes (past a 64 MiB floor) are refused. */
  verifyMaxRatio: number;
  /** Archives expanding to more bytes than this in all are refused (the verifier's CPU time grows with them). */
  verifyMaxDecompressedBytes: number;
  /** Timeout for one request to an S3-compatible bucket (response headers; bodies are watched for stalls). */
  s3TimeoutMs: number;
  /**
   * The bucket's public address (a custom domain in front of it), without trailing slash: a GET of
   * a tarball the bucket holds is answered with a redirect to `<base>/<key>` (null: streamed, as
   * always). Only with AUTH=off.
   */
  storedRedirectBase: string | null;
  /** Where the mirror is mounted, e.g. `/julia` for JULIA_PKG_SERVER=https://host/julia; "" for the root. */
  pathPrefix: string;
  /** The registries pkgedge publishes (an allowlist), each with how to ask its origin about a hash. */
  registries: RegistryConfig[];
  /** Plain-http upstreams and origins that are not loopback were allowed explicitly. */
  allowInsecureUpstreams: boolean;
  /** The buckets of Julia binaries mirrored under `/mirror/<name>/` (none: the routes are off). */
  binaryMirrors: BinaryMirror[];
  /** How old a copy of a file that can change (versions.json, nightlies) may get before it is revalidated. */
  binaryMirrorTtlSeconds: number;
  /** Other Pkg servers run alongside this one, for /meta/siblings (PkgServer.jl's list of its peers). */
  siblings: string[];
  /** An identity for this run, shown in /meta (`npm run demo` and the tests pass one to know their server). */
  runId: string | null;
  /** Which requests get an access-log line: every one, only failed or broken ones, or none. */
  accessLog: "all" | "errors" | "off";
  /** Log lines as JSON objects (for wrangler tail, Logpush, Workers Logs), or one compact text line each (`wrangler dev`). */
  logFormat: "json" | "text";
  /** Where /meta/stats asks Analytics Engine for totals (with the secret ANALYTICS_API_TOKEN), if anywhere. */
  analyticsSql: { account: string; url: string | null } | null;
  /** Filling what each new registry snapshot adds before clients ask (through the PREFETCH_QUEUE). */
  prefetch: PrefetchConfig;
  /** zstd variants of tarballs, for clients whose Accept-Encoding names zstd. */
  zstd: ZstdConfig;
  /** Which routes need a bearer token, and how tokens are checked (worker/auth/). */
  auth: AuthConfig;
}

export interface AuthConfig {
  /**
   * `off`: every route public; `protocol`: the protocol routes and /mirror/; `all`: all but
   * /robots.txt and /metrics; `external`: no token asked, access being controlled in front of
   * pkgedge (Cloudflare Access, a private network), which private upstreams and registries need.
   */
  mode: "off" | "protocol" | "all" | "external";
  /** Lifetime of an access token /auth/refresh hands out (never past its refresh token's expiry). */
  accessTtlSeconds: number;
  /** How old an isolate's copy of the revocation list may get. */
  revocationTtlSeconds: number;
  /** Where users get a token, as the operator wrote it (null: a generic sentence). */
  help: string | null;
}

interface ZstdConfig {
  /** `on`: variants are made from verified gzip copies and served; `serve`: served when in the bucket; `off`: gzip only. */
  mode: "on" | "serve" | "off";
  level: number;
  /** zstd frames needing a larger window are refused (the decoder holds the window in memory). */
  maxWindowBytes: number;
  /** Gzip tarballs larger than this are not transcoded. */
  maxTranscodeBytes: number;
}

export interface PrefetchConfig {
  /** `off`, new package versions, or those and the artifacts they name. */
  mode: "off" | "packages" | "all";
  /** Why prefetching is off when it was not asked to be (no queue bound), for /meta and the log. */
  offBecause: string | null;
  /** Platform triples whose artifacts are prefetched (empty: all); platform-independent ones always. */
  platforms: string[];
  /** Whether lazy artifacts are prefetched too. */
  lazy: boolean;
  /** Publish a snapshot in /registries.conservative only once everything it adds is in the bucket. */
  gate: boolean;
  /** Fills running at once in one consumer invocation. */
  concurrency: number;
  /** Prefetch fills per UTC day, across the deployment (each item once, however often retried). */
  dailyBudget: number;
  /** Bytes prefetch fills may store per UTC day, across the deployment. */
  dailyBytes: number;
  /** Artifacts queued per package version, and per snapshot: an Artifacts.toml is anyone's to write. */
  maxArtifactsPerVersion: number;
  maxArtifactsPerSnapshot: number;
  /** The first retry's delay after an upstream failure; doubled each time, at most an hour. */
  retryDelaySeconds: number;
}

export type StorageConfig = { kind: "r2" } | { kind: "s3"; endpoint: string; bucket: string; region: string; forcePathStyle: boolean };
