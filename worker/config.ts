/**
 * Configuration, parsed once per environment into a typed object.
 *
 * The variable names are a contract with operators and tooling (`wrangler dev --var NAME:VALUE`,
 * `.dev.vars`, wrangler.toml `[vars]`). A bad value becomes a ConfigError that names the
 * variable; the worker then answers every request with a 500 that says so, instead of crashing.
 */

export interface Config {
  /** Upstream base URLs (storage servers or Pkg servers), without trailing slash, in preference order. */
  upstreams: string[];
  /** How old the stored registry list may get before a request revalidates it in the background. */
  registryTtlSeconds: number;
  /** How long "no upstream has it" is remembered, so a storm of requests does not hammer upstream. */
  negativeTtlSeconds: number;
  /** Per-upstream timeout for the HEAD probe and for response headers of a GET. */
  upstreamTimeoutMs: number;
  /** A body that delivers nothing for this long is abandoned (the client would give up at 20 s). */
  upstreamIdleTimeoutMs: number;
  /** Objects larger than this (or of unknown length) are written with multipart upload. */
  multipartThresholdBytes: number;
  /** Part size for multipart uploads (R2 and S3 need at least 5 MiB, except the last part). */
  multipartPartBytes: number;
  /** Which bucket is the cache: the R2 binding, or an S3-compatible bucket (secrets come from the env). */
  storage: StorageConfig;
  /** Bytes of a running fill held in memory for the requesters streaming it (constant memory). */
  fillWindowBytes: number;
  /** Where the mirror is mounted, e.g. `/julia` for JULIA_PKG_SERVER=https://host/julia; "" for the root. */
  pathPrefix: string;
}

export type StorageConfig = { kind: "r2" } | { kind: "s3"; endpoint: string; bucket: string; region: string; forcePathStyle: boolean };

/** Every variable parseConfig reads (secrets excluded): what the worker hands its coordinators. */
export const CONFIG_VARS = [
  "UPSTREAM_SERVERS",
  "REGISTRY_TTL_SECONDS",
  "NEGATIVE_TTL_SECONDS",
  "UPSTREAM_TIMEOUT_MS",
  "UPSTREAM_IDLE_TIMEOUT_MS",
  "MULTIPART_THRESHOLD_BYTES",
  "MULTIPART_PART_BYTES",
  "PATH_PREFIX",
  "FILL_WINDOW_BYTES",
  "STORAGE",
  "S3_ENDPOINT",
  "S3_BUCKET",
  "S3_REGION",
  "S3_FORCE_PATH_STYLE",
] as const;

export function configVars(env: Record<string, unknown>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const name of CONFIG_VARS) if (typeof env[name] === "string") vars[name] = env[name] as string;
  return vars;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`);
    this.name = "ConfigError";
  }
}

export const DEFAULT_UPSTREAMS = "https://us-east.storage.julialang.org,https://kr.storage.julialang.org";
const MiB = 1024 * 1024;

type Vars = Partial<Record<string, unknown>>;

function text(vars: Vars, name: string): string | undefined {
  const value = vars[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ConfigError(name, `expected a string, got ${typeof value}`);
  return value.trim() === "" ? undefined : value.trim();
}

function number(vars: Vars, name: string, fallback: number, min: number, max: number): number {
  const raw = text(vars, name);
  if (raw === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError(name, `expected a number, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected a number from ${min} to ${max}, got ${raw}`);
  return value;
}

/** An absent UPSTREAM_SERVERS means the defaults; one that is set but lists nothing is an error. */
export function parseUpstreams(raw: string | undefined): string[] {
  const name = "UPSTREAM_SERVERS";
  const items = (raw ?? DEFAULT_UPSTREAMS)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw new ConfigError(name, "the list of upstream servers is empty");
  return items.map((item) => {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new ConfigError(name, `${JSON.stringify(item)} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ConfigError(name, `${JSON.stringify(item)} is not an http(s) URL`);
    }
    if (url.search !== "" || url.hash !== "") {
      throw new ConfigError(name, `${JSON.stringify(item)} must not have a query or fragment`);
    }
    return url.origin + url.pathname.replace(/\/+$/, "");
  });
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
  const endpoint = text(vars, "S3_ENDPOINT");
  if (!endpoint) throw new ConfigError("S3_ENDPOINT", "STORAGE=s3 needs the bucket's endpoint URL");
  try {
    const url = new URL(endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new ConfigError("S3_ENDPOINT", `${JSON.stringify(endpoint)} is not an http(s) URL`);
  }
  const bucket = text(vars, "S3_BUCKET");
  if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError("S3_BUCKET", `expected a bucket name, got ${JSON.stringify(bucket ?? "")}`);
  const style = (text(vars, "S3_FORCE_PATH_STYLE") ?? "true").toLowerCase();
  if (style !== "true" && style !== "false") throw new ConfigError("S3_FORCE_PATH_STYLE", `expected true or false, got ${JSON.stringify(style)}`);
  return { kind: "s3", endpoint, bucket, region: text(vars, "S3_REGION") ?? "auto", forcePathStyle: style === "true" };
}

export function parseConfig(vars: Vars): Config {
  const multipartPartBytes = number(vars, "MULTIPART_PART_BYTES", 16 * MiB, 5 * MiB, 5 * 1024 * MiB);
  return {
    upstreams: parseUpstreams(typeof vars.UPSTREAM_SERVERS === "string" ? vars.UPSTREAM_SERVERS : text(vars, "UPSTREAM_SERVERS")),
    registryTtlSeconds: number(vars, "REGISTRY_TTL_SECONDS", 60, 1, 86400),
    negativeTtlSeconds: number(vars, "NEGATIVE_TTL_SECONDS", 60, 0, 60),
    upstreamTimeoutMs: number(vars, "UPSTREAM_TIMEOUT_MS", 5000, 100, 60000),
    upstreamIdleTimeoutMs: number(vars, "UPSTREAM_IDLE_TIMEOUT_MS", 10000, 100, 60000),
    multipartThresholdBytes: number(vars, "MULTIPART_THRESHOLD_BYTES", 100 * MiB, 0, 5 * 1024 * MiB),
    multipartPartBytes,
    pathPrefix: pathPrefix(vars),
    fillWindowBytes: number(vars, "FILL_WINDOW_BYTES", 16 * MiB, 64 * 1024, 64 * MiB),
    storage: storage(vars),
  };
}
