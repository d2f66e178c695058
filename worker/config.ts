/**
 * Configuration, parsed once per environment into a typed object.
 *
 * The variable names are a contract with operators and tooling (`wrangler dev --var NAME:VALUE`,
 * `.dev.vars`, wrangler.toml `[vars]`). A bad value becomes a ConfigError that names the
 * variable; the worker then answers every request with a 500 that says so, instead of crashing.
 */

import { DEFAULT_MAX_ENTRIES } from "./verify/tree";
import { DEFAULT_MAX_RATIO } from "./verify/verify";
import { sqlApiUrl } from "./ops/rollups";
import { isLoopback } from "./protocol/loopback";

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
  /** Where /meta/stats asks Analytics Engine for totals (with the secret ANALYTICS_API_TOKEN), if anywhere. */
  analyticsSql: { account: string; url: string } | null;
  /** Filling what each new registry snapshot adds before clients ask (through the PREFETCH_QUEUE). */
  prefetch: PrefetchConfig;
}

interface PrefetchConfig {
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

/** One mirrored bucket: `/mirror/<name>/<path>` is `<base>/<path>` upstream. */
export interface BinaryMirror {
  name: string;
  /** Without trailing slash. */
  base: string;
}

export interface RegistryConfig {
  uuid: string;
  /**
   * A URL with `{hash}` that answers a HEAD with 2xx/3xx when the registry's origin knows that tree
   * hash (for GitHub: the tarball URL Pkg itself builds). Absent: new hashes need a quorum of upstreams.
   */
  originTemplate?: string;
}

type StorageConfig = { kind: "r2" } | { kind: "s3"; endpoint: string; bucket: string; region: string; forcePathStyle: boolean };

export class ConfigError extends Error {
  /** Every problem found, each naming its variable (one, unless the configuration was checked as a whole). */
  readonly problems: { variable: string; message: string }[];

  constructor(
    readonly variable: string,
    detail: string,
    problems?: ConfigError[],
  ) {
    super(problems ? problems.map((p) => p.message).join("; ") : `${variable}: ${detail}`);
    this.name = "ConfigError";
    this.problems = problems ? problems.flatMap((p) => p.problems) : [{ variable, message: this.message }];
  }

  /** All problems as one error: `variable` names them all, the message lists them. */
  static all(problems: ConfigError[]): ConfigError {
    return problems.length === 1 ? problems[0]! : new ConfigError(problems.map((p) => p.variable).join(", "), "", problems);
  }
}

/**
 * Runs each variable's parser and keeps going past failures, so an operator learns every problem
 * at once instead of one per restart. A failed parser's value is never used.
 */
class Checker {
  readonly problems: ConfigError[] = [];
  check<T>(parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.problems.push(err);
      return undefined as T;
    }
  }
}

const DEFAULT_UPSTREAMS = "https://us-east.storage.julialang.org,https://kr.storage.julialang.org";
const GENERAL_UUID = "23338594-aafe-5451-b93e-139f81909106";
const DEFAULT_REGISTRIES = `${GENERAL_UUID}=https://api.github.com/repos/JuliaRegistries/General/tarball/{hash}`;
const DEFAULT_BINARY_MIRRORS =
  "julialang2=https://julialang2.s3.amazonaws.com,julialangnightlies=https://julialangnightlies.s3.amazonaws.com";
const MiB = 1024 * 1024;

type Vars = Partial<Record<string, unknown>>;

function text(vars: Vars, name: string): string | undefined {
  const value = vars[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ConfigError(name, `expected a string, got ${typeof value}`);
  return value.trim() === "" ? undefined : value.trim();
}

/** Byte, millisecond and second counts are whole numbers: fractions would reach buffer arithmetic. */
function integer(vars: Vars, name: string, fallback: number, min: number, max: number): number {
  const raw = text(vars, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A comma-separated list: absent means the default; set but empty is an error. */
function commaList(name: string, raw: string | undefined, fallback: string, what: string): string[] {
  const items = (raw ?? fallback)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw new ConfigError(name, `the list of ${what} is empty`);
  return items;
}

/** An absent UPSTREAM_SERVERS means the defaults; one that is set but lists nothing is an error. */
function parseUpstreams(raw: string | undefined): string[] {
  const name = "UPSTREAM_SERVERS";
  return commaList(name, raw, DEFAULT_UPSTREAMS, "upstream servers").map((item) => baseUrl(name, item, "upstream"));
}

function refuseInsecure(name: string, urls: string[], allowed: boolean): void {
  if (allowed) return;
  for (const raw of urls) {
    const url = new URL(raw.replace("{hash}", "0"));
    if (url.protocol === "http:" && !isLoopback(url)) {
      throw new ConfigError(
        name,
        `${JSON.stringify(raw)} is plain http to a host that is not loopback: anyone on the way could choose your registry (use https, or set ALLOW_INSECURE_UPSTREAMS=true)`,
      );
    }
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `REGISTRIES`: comma-separated `uuid` or `uuid=originTemplate` entries, the template with `{hash}`. */
function parseRegistries(raw: string | undefined): RegistryConfig[] {
  const name = "REGISTRIES";
  const seen = new Set<string>();
  return commaList(name, raw, DEFAULT_REGISTRIES, "registries").map((item) => {
    const eq = item.indexOf("=");
    const uuid = (eq < 0 ? item : item.slice(0, eq)).trim();
    const template = eq < 0 ? undefined : item.slice(eq + 1).trim();
    if (!UUID_RE.test(uuid)) throw new ConfigError(name, `${JSON.stringify(uuid)} is not a registry UUID (lowercase hex, 8-4-4-4-12)`);
    if (seen.has(uuid)) throw new ConfigError(name, `${uuid} is listed twice`);
    seen.add(uuid);
    if (template === undefined) return { uuid };
    if (!template.includes("{hash}"))
      throw new ConfigError(name, `the origin of ${uuid} must contain {hash}, got ${JSON.stringify(template)}`);
    let url: URL;
    try {
      url = new URL(template.replace("{hash}", "0"));
    } catch {
      throw new ConfigError(name, `the origin of ${uuid} is not a URL: ${JSON.stringify(template)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new ConfigError(name, `the origin of ${uuid} is not an http(s) URL: ${JSON.stringify(template)}`);
    return { uuid, originTemplate: template };
  });
}

const MIRROR_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** An http(s) base URL without query or fragment, returned without its trailing slashes. */
function baseUrl(name: string, item: string, what: string): string {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} is not an http(s) URL`);
  if (url.search !== "" || url.hash !== "")
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} must not have a query or fragment`);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * `BINARY_MIRRORS`: comma-separated `name=baseURL`. Absent means the default (the two public
 * buckets of Julia binaries); set but empty turns the `/mirror/` routes off.
 */
export function parseBinaryMirrors(raw: string | undefined): BinaryMirror[] {
  const name = "BINARY_MIRRORS";
  const items = (raw ?? DEFAULT_BINARY_MIRRORS)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const seen = new Set<string>();
  return items.map((item) => {
    const eq = item.indexOf("=");
    if (eq < 0) throw new ConfigError(name, `expected name=baseURL, got ${JSON.stringify(item)}`);
    const mirror = item.slice(0, eq).trim();
    if (!MIRROR_NAME_RE.test(mirror))
      throw new ConfigError(name, `mirror name ${JSON.stringify(mirror)} must be lowercase letters, digits and dashes (at most 63)`);
    if (seen.has(mirror)) throw new ConfigError(name, `mirror ${mirror} is listed twice`);
    seen.add(mirror);
    return { name: mirror, base: baseUrl(name, item.slice(eq + 1).trim(), `the base URL of ${mirror},`) };
  });
}

/** `SIBLINGS`: comma-separated base URLs of the other servers of this deployment (none by default). */
function parseSiblings(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((item) => baseUrl("SIBLINGS", item, "sibling"));
}

function accessLog(vars: Vars): "all" | "errors" | "off" {
  const raw = (text(vars, "ACCESS_LOG") ?? "all").toLowerCase();
  if (raw !== "all" && raw !== "errors" && raw !== "off")
    throw new ConfigError("ACCESS_LOG", `expected all, errors or off, got ${JSON.stringify(raw)}`);
  return raw;
}

/** `ANALYTICS_ACCOUNT_ID` (32 hex digits) and, optionally, `ANALYTICS_SQL_URL` (another SQL API address). */
function analyticsSql(vars: Vars): { account: string; url: string } | null {
  const account = text(vars, "ANALYTICS_ACCOUNT_ID");
  const url = text(vars, "ANALYTICS_SQL_URL");
  if (account === undefined) {
    if (url !== undefined) throw new ConfigError("ANALYTICS_SQL_URL", "is set without ANALYTICS_ACCOUNT_ID");
    return null;
  }
  if (!/^[0-9a-f]{32}$/.test(account))
    throw new ConfigError("ANALYTICS_ACCOUNT_ID", `expected a 32-digit hex account ID, got ${JSON.stringify(account)}`);
  if (url === undefined) return { account, url: sqlApiUrl(account) };
  const parsed = baseUrl("ANALYTICS_SQL_URL", url, "the SQL API");
  // The request carries the secret ANALYTICS_API_TOKEN: never in the clear past this machine
  // (ALLOW_INSECURE_UPSTREAMS does not lift this, it is about public tarballs, not a secret).
  if (parsed.startsWith("http:") && !isLoopback(new URL(parsed)))
    throw new ConfigError(
      "ANALYTICS_SQL_URL",
      `${JSON.stringify(url)} is plain http to a host that is not loopback: the API token would travel in the clear (use https)`,
    );
  return { account, url: parsed };
}

/** `PREFETCH*`: checked together, since the mode, the gate and the queue binding depend on each other. */
function prefetch(vars: Vars): PrefetchConfig {
  const c = new Checker();
  const explicit = text(vars, "PREFETCH")?.toLowerCase();
  let mode = c.check((): PrefetchConfig["mode"] => {
    const raw = explicit ?? "packages";
    if (raw !== "off" && raw !== "packages" && raw !== "all")
      throw new ConfigError("PREFETCH", `expected off, packages or all, got ${JSON.stringify(raw)}`);
    return raw;
  });
  let offBecause: string | null = null;
  if (mode !== undefined && mode !== "off" && vars.PREFETCH_QUEUE === undefined) {
    if (explicit !== undefined)
      c.check(() => {
        throw new ConfigError("PREFETCH", `PREFETCH=${mode} needs a queue bound as PREFETCH_QUEUE (wrangler.toml [[queues.producers]])`);
      });
    mode = "off";
    offBecause = "no queue is bound as PREFETCH_QUEUE";
  }
  const platforms = c.check(() =>
    (text(vars, "PREFETCH_PLATFORMS") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .map((p) => {
        if (!/^[a-z0-9_]+-[a-z0-9_-]+$/.test(p))
          throw new ConfigError("PREFETCH_PLATFORMS", `expected platform triples such as x86_64-linux-gnu, got ${JSON.stringify(p)}`);
        return p;
      }),
  );
  const gate = c.check(() => flag(vars, "PREFETCH_GATE", false));
  if (gate && mode === "off")
    c.check(() => {
      throw new ConfigError("PREFETCH_GATE", `PREFETCH_GATE=true needs prefetching on, but ${offBecause ?? "PREFETCH=off"}`);
    });
  const config: PrefetchConfig = {
    mode,
    offBecause,
    platforms,
    gate,
    lazy: c.check(() => flag(vars, "PREFETCH_LAZY", true)),
    concurrency: c.check(() => integer(vars, "PREFETCH_CONCURRENCY", 4, 1, 32)),
    dailyBudget: c.check(() => integer(vars, "PREFETCH_DAILY_BUDGET", 20_000, 0, 10_000_000)),
    dailyBytes: c.check(() => integer(vars, "PREFETCH_DAILY_BYTES", 100 * 1024 ** 3, 0, 1024 ** 5)),
    maxArtifactsPerVersion: c.check(() => integer(vars, "PREFETCH_MAX_ARTIFACTS_PER_VERSION", 300, 0, 100_000)),
    maxArtifactsPerSnapshot: c.check(() => integer(vars, "PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT", 5_000, 0, 1_000_000)),
    retryDelaySeconds: c.check(() => integer(vars, "PREFETCH_RETRY_DELAY_SECONDS", 60, 0, 3600)),
  };
  if (c.problems.length > 0) throw ConfigError.all(c.problems);
  return config;
}

function flag(vars: Vars, name: string, fallback: boolean): boolean {
  const raw = (text(vars, name) ?? String(fallback)).toLowerCase();
  if (raw !== "true" && raw !== "false") throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
  return raw === "true";
}

function pathPrefix(vars: Vars): string {
  const raw = text(vars, "PATH_PREFIX");
  if (raw === undefined || raw === "/") return "";
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(raw) || raw.split("/").some((s) => s === "." || s === "..")) {
    throw new ConfigError("PATH_PREFIX", `expected a path such as /julia, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/$/, "");
}

function storage(vars: Vars): StorageConfig {
  const kind = (text(vars, "STORAGE") ?? "r2").toLowerCase();
  if (kind === "r2") return { kind: "r2" };
  if (kind !== "s3") throw new ConfigError("STORAGE", `expected r2 or s3, got ${JSON.stringify(kind)}`);
  // Each S3 setting is checked, so a new operator learns every missing one at once.
  const c = new Checker();
  const endpoint = c.check(() => {
    const raw = text(vars, "S3_ENDPOINT");
    if (!raw) throw new ConfigError("S3_ENDPOINT", "STORAGE=s3 needs the bucket's endpoint URL");
    try {
      const url = new URL(raw);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
    } catch {
      throw new ConfigError("S3_ENDPOINT", `${JSON.stringify(raw)} is not an http(s) URL`);
    }
    return raw;
  });
  const bucket = c.check(() => {
    const raw = text(vars, "S3_BUCKET");
    if (!raw || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(raw))
      throw new ConfigError(
        "S3_BUCKET",
        `expected a bucket name (3 to 63 lowercase letters, digits, dots and dashes), got ${JSON.stringify(raw ?? "")}`,
      );
    return raw;
  });
  const forcePathStyle = c.check(() => flag(vars, "S3_FORCE_PATH_STYLE", true));
  if (c.problems.length > 0) throw ConfigError.all(c.problems);
  return { kind: "s3", endpoint, bucket, region: text(vars, "S3_REGION") ?? "auto", forcePathStyle };
}

const GiB = 1024 * MiB;
/** R2's (and S3's) largest single upload: 5 GiB less 5 MiB. */
const MAX_SINGLE_PUT_BYTES = 5 * GiB - 5 * MiB;

export function parseConfig(vars: Vars): Config {
  const c = new Checker();
  // A part of a body of unknown length is held in memory while it uploads: keep it well below the
  // 128 MB isolate limit. (Parts of known length are streamed.)
  const multipartPartBytes = c.check(() => integer(vars, "MULTIPART_PART_BYTES", 16 * MiB, 5 * MiB, 32 * MiB));
  // Objects written in one put read back fast (multipart objects are read part by part), and R2's
  // put takes a stream of known length up to its single-upload limit; 0: every object multipart.
  const multipartThresholdBytes = c.check(() => {
    const threshold = integer(vars, "MULTIPART_THRESHOLD_BYTES", MAX_SINGLE_PUT_BYTES, 0, MAX_SINGLE_PUT_BYTES);
    if (multipartPartBytes !== undefined && threshold !== 0 && threshold < multipartPartBytes) {
      throw new ConfigError(
        "MULTIPART_THRESHOLD_BYTES",
        `must be 0 (always multipart) or at least MULTIPART_PART_BYTES (${multipartPartBytes}), got ${threshold}`,
      );
    }
    return threshold;
  });
  const upstreamIdleTimeoutMs = c.check(() => integer(vars, "UPSTREAM_IDLE_TIMEOUT_MS", 10_000, 100, 60_000));
  // About 7 s of CPU per GiB verified (npm run bench -- verify: 148 MB/s as a fill feeds it); 12 GiB
  // takes about 90 s, well inside the 5-minute cpu_ms (wrangler.toml [limits]) on a slower machine too.
  const fillMaxBytes = c.check(() => integer(vars, "FILL_MAX_BYTES", 12 * GiB, 1, 1024 * GiB));
  const upstreamMinRateWindowMs = c.check(() => {
    const window = integer(vars, "UPSTREAM_MIN_RATE_WINDOW_MS", 20_000, 1000, 600_000);
    if (upstreamIdleTimeoutMs !== undefined && window < upstreamIdleTimeoutMs) {
      throw new ConfigError(
        "UPSTREAM_MIN_RATE_WINDOW_MS",
        `must be at least UPSTREAM_IDLE_TIMEOUT_MS (${upstreamIdleTimeoutMs}), got ${window}`,
      );
    }
    return window;
  });
  const upstreams = c.check(() =>
    parseUpstreams(typeof vars.UPSTREAM_SERVERS === "string" ? vars.UPSTREAM_SERVERS : text(vars, "UPSTREAM_SERVERS")),
  );
  const registries = c.check(() => parseRegistries(text(vars, "REGISTRIES")));
  const allowInsecureUpstreams = c.check(() => flag(vars, "ALLOW_INSECURE_UPSTREAMS", false));
  if (upstreams) c.check(() => refuseInsecure("UPSTREAM_SERVERS", upstreams, allowInsecureUpstreams ?? false));
  if (registries)
    c.check(() =>
      refuseInsecure(
        "REGISTRIES",
        registries.flatMap((r) => (r.originTemplate ? [r.originTemplate] : [])),
        allowInsecureUpstreams ?? false,
      ),
    );
  // Set but empty (even blank) turns the mirror off, so it is read before `text` blanks it out.
  const binaryMirrors = c.check(() =>
    parseBinaryMirrors(typeof vars.BINARY_MIRRORS === "string" ? vars.BINARY_MIRRORS : text(vars, "BINARY_MIRRORS")),
  );
  if (binaryMirrors)
    c.check(() =>
      refuseInsecure(
        "BINARY_MIRRORS",
        binaryMirrors.map((m) => m.base),
        allowInsecureUpstreams ?? false,
      ),
    );
  const config: Config = {
    upstreams,
    registries,
    allowInsecureUpstreams,
    binaryMirrors,
    siblings: c.check(() => parseSiblings(text(vars, "SIBLINGS"))),
    analyticsSql: c.check(() => analyticsSql(vars)),
    accessLog: c.check(() => accessLog(vars)),
    runId: text(vars, "PKGEDGE_RUN_ID") ?? null,
    binaryMirrorTtlSeconds: c.check(() => integer(vars, "BINARY_MIRROR_TTL_SECONDS", 600, 1, 86400 * 7)),
    registryTtlSeconds: c.check(() => integer(vars, "REGISTRY_TTL_SECONDS", 60, 1, 86400)),
    negativeTtlSeconds: c.check(() => integer(vars, "NEGATIVE_TTL_SECONDS", 60, 0, 60)),
    failureTtlSeconds: c.check(() => integer(vars, "UPSTREAM_FAILURE_TTL_SECONDS", 5, 0, 60)),
    upstreamTimeoutMs: c.check(() => integer(vars, "UPSTREAM_TIMEOUT_MS", 5000, 100, 60_000)),
    upstreamIdleTimeoutMs,
    upstreamMinBytesPerSecond: c.check(() => integer(vars, "UPSTREAM_MIN_BYTES_PER_SECOND", 8192, 0, 1024 * MiB)),
    upstreamMinRateWindowMs,
    multipartThresholdBytes,
    multipartPartBytes,
    pathPrefix: c.check(() => pathPrefix(vars)),
    fillWindowBytes: c.check(() => integer(vars, "FILL_WINDOW_BYTES", 16 * MiB, 64 * 1024, 64 * MiB)),
    unattendedFillMaxBytes: c.check(() => integer(vars, "UNATTENDED_FILL_MAX_BYTES", 256 * MiB, 0, 1024 * GiB)),
    unattendedFillGraceSeconds: c.check(() => integer(vars, "UNATTENDED_FILL_GRACE_SECONDS", 10, 0, 600)),
    fillMaxAttempts: c.check(() => integer(vars, "FILL_MAX_ATTEMPTS", 5, 1, 100)),
    fillBackoffSeconds: c.check(() => integer(vars, "FILL_BACKOFF_SECONDS", 600, 1, 86400)),
    verifyMaxEntries: c.check(() => integer(vars, "VERIFY_MAX_ENTRIES", DEFAULT_MAX_ENTRIES, 1, 10_000_000)),
    fillMaxBytes,
    verifyMaxRatio: c.check(() => integer(vars, "VERIFY_MAX_RATIO", DEFAULT_MAX_RATIO, 2, 100_000)),
    // Verification costs CPU per decompressed byte: about 3.6 s per GiB here (bench tarballs expand
    // 2:1, verified at 148 MB/s compressed). FILL_MAX_BYTES was sized for 12 GiB at that ratio
    // (about 90 s), so twice it is the same budget; a bomb is stopped there, inside the CPU limit.
    verifyMaxDecompressedBytes: c.check(() =>
      integer(vars, "VERIFY_MAX_DECOMPRESSED_BYTES", 2 * (fillMaxBytes ?? 12 * GiB), 1, 4096 * GiB),
    ),
    s3TimeoutMs: c.check(() => integer(vars, "S3_TIMEOUT_MS", 10_000, 100, 120_000)),
    storage: c.check(() => storage(vars)),
    prefetch: c.check(() => prefetch(vars)),
  };
  if (c.problems.length > 0) throw ConfigError.all(c.problems);
  return config;
}
