/** The rules that tie variables together: each names the variable that breaks it. */

import { isLoopback } from "../protocol/loopback";
import { Checker, ConfigError } from "./error";
import { baseUrl, choice, flag, integer, text, textOr, type Vars } from "./kinds";
import { parsePlatforms } from "./lists";
import type { AuthConfig, PrefetchConfig, StorageConfig } from "./types";

/** Parts, and a threshold that is 0 (always multipart) or at least one part. */
export function multipart(vars: Vars, c: Checker): { partBytes: number; thresholdBytes: number } {
  const partBytes = c.check(() => integer(vars, "MULTIPART_PART_BYTES"));
  // Objects written in one put read back fast (multipart objects are read part by part), and R2's
  // put takes a stream of known length up to its single-upload limit; 0: every object multipart.
  const thresholdBytes = c.check(() => {
    const threshold = integer(vars, "MULTIPART_THRESHOLD_BYTES");
    if (partBytes !== undefined && threshold !== 0 && threshold < partBytes) {
      throw new ConfigError(
        "MULTIPART_THRESHOLD_BYTES",
        `must be 0 (always multipart) or at least MULTIPART_PART_BYTES (${partBytes}), got ${threshold}`,
      );
    }
    return threshold;
  });
  return { partBytes, thresholdBytes };
}

/** The throughput floor's window is at least the idle timeout. */
export function upstreamPacing(vars: Vars, c: Checker): { idleTimeoutMs: number; minRateWindowMs: number } {
  const idleTimeoutMs = c.check(() => integer(vars, "UPSTREAM_IDLE_TIMEOUT_MS"));
  const minRateWindowMs = c.check(() => {
    const window = integer(vars, "UPSTREAM_MIN_RATE_WINDOW_MS");
    if (idleTimeoutMs !== undefined && window < idleTimeoutMs) {
      throw new ConfigError("UPSTREAM_MIN_RATE_WINDOW_MS", `must be at least UPSTREAM_IDLE_TIMEOUT_MS (${idleTimeoutMs}), got ${window}`);
    }
    return window;
  });
  return { idleTimeoutMs, minRateWindowMs };
}

const GiB = 1024 ** 3;

/** Objects are bounded by FILL_MAX_BYTES, and what they expand to by default twice that. */
export function fillSizes(vars: Vars, c: Checker): { fillMaxBytes: number; verifyMaxDecompressedBytes: number } {
  const fillMaxBytes = c.check(() => integer(vars, "FILL_MAX_BYTES"));
  // Verification costs CPU per decompressed byte: about 3.6 s per GiB here (bench tarballs expand
  // 2:1, verified at 148 MB/s compressed). FILL_MAX_BYTES was sized for 12 GiB at that ratio
  // (about 90 s), so twice it is the same budget; a bomb is stopped there, inside the CPU limit.
  const verifyMaxDecompressedBytes = c.check(() => integer(vars, "VERIFY_MAX_DECOMPRESSED_BYTES", 2 * (fillMaxBytes ?? 12 * GiB)));
  return { fillMaxBytes, verifyMaxDecompressedBytes };
}

/**
 * `ANALYTICS_ACCOUNT_ID` (32 hex digits) and, optionally, `ANALYTICS_SQL_URL` (another SQL API
 * address; null: the Cloudflare API's, which the statistics code knows).
 */
export function analyticsSql(vars: Vars): { account: string; url: string | null } | null {
  const account = textOr(vars, "ANALYTICS_ACCOUNT_ID");
  const url = textOr(vars, "ANALYTICS_SQL_URL");
  if (account === undefined) {
    if (url !== undefined) throw new ConfigError("ANALYTICS_SQL_URL", "is set without ANALYTICS_ACCOUNT_ID");
    return null;
  }
  if (!/^[0-9a-f]{32}$/.test(account))
    throw new ConfigError("ANALYTICS_ACCOUNT_ID", `expected a 32-digit hex account ID, got ${JSON.stringify(account)}`);
  if (url === undefined) return { account, url: null };
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
export function prefetch(vars: Vars): PrefetchConfig {
  const c = new Checker();
  const explicit = text(vars, "PREFETCH");
  let mode = c.check(() => choice(vars, "PREFETCH", explicit));
  let offBecause: string | null = null;
  if (mode !== undefined && mode !== "off" && vars.PREFETCH_QUEUE === undefined) {
    if (explicit !== undefined)
      c.check(() => {
        throw new ConfigError("PREFETCH", `PREFETCH=${mode} needs a queue bound as PREFETCH_QUEUE (wrangler.toml [[queues.producers]])`);
      });
    mode = "off";
    offBecause = "no queue is bound as PREFETCH_QUEUE";
  }
  const platforms = c.check(() => parsePlatforms(text(vars, "PREFETCH_PLATFORMS")));
  const gate = c.check(() => flag(vars, "PREFETCH_GATE"));
  if (gate && mode === "off")
    c.check(() => {
      throw new ConfigError("PREFETCH_GATE", `PREFETCH_GATE=true needs prefetching on, but ${offBecause ?? "PREFETCH=off"}`);
    });
  const config: PrefetchConfig = {
    mode,
    offBecause,
    platforms,
    gate,
    lazy: c.check(() => flag(vars, "PREFETCH_LAZY")),
    concurrency: c.check(() => integer(vars, "PREFETCH_CONCURRENCY")),
    dailyBudget: c.check(() => integer(vars, "PREFETCH_DAILY_BUDGET")),
    dailyBytes: c.check(() => integer(vars, "PREFETCH_DAILY_BYTES")),
    maxArtifactsPerVersion: c.check(() => integer(vars, "PREFETCH_MAX_ARTIFACTS_PER_VERSION")),
    maxArtifactsPerSnapshot: c.check(() => integer(vars, "PREFETCH_MAX_ARTIFACTS_PER_SNAPSHOT")),
    retryDelaySeconds: c.check(() => integer(vars, "PREFETCH_RETRY_DELAY_SECONDS")),
  };
  c.done();
  return config;
}

/** `STORAGE=s3` needs its endpoint and bucket; each S3 setting is checked, so every missing one is named at once. */
export function storage(vars: Vars): StorageConfig {
  if (choice(vars, "STORAGE") === "r2") return { kind: "r2" };
  const c = new Checker();
  const endpoint = c.check(() => {
    const raw = textOr(vars, "S3_ENDPOINT");
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
    const raw = textOr(vars, "S3_BUCKET");
    if (!raw || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(raw))
      throw new ConfigError(
        "S3_BUCKET",
        `expected a bucket name (3 to 63 lowercase letters, digits, dots and dashes), got ${JSON.stringify(raw ?? "")}`,
      );
    return raw;
  });
  const forcePathStyle = c.check(() => flag(vars, "S3_FORCE_PATH_STYLE"));
  c.done();
  return { kind: "s3", endpoint, bucket, region: textOr(vars, "S3_REGION")!, forcePathStyle };
}

/**
 * `STORED_REDIRECT_BASE`: the bucket's public address, where stored tarballs are redirected. It is
 * written into every redirect's Location, so it must read exactly as it will be sent: https (plain
 * http only to loopback, for local runs), no credentials, query or fragment. The bucket's domain
 * serves every object to anyone, so it cannot go with a token check: AUTH must be off.
 */
export function storedRedirect(vars: Vars, authMode: AuthConfig["mode"] | undefined): string | null {
  const raw = text(vars, "STORED_REDIRECT_BASE");
  if (raw === undefined) return null;
  if (authMode !== undefined && authMode !== "off")
    throw new ConfigError(
      "STORED_REDIRECT_BASE",
      `cannot be set with AUTH=${authMode}: the bucket's public domain would hand out to anyone what AUTH keeps to token holders (unset STORED_REDIRECT_BASE, or set AUTH=off)`,
    );
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("STORED_REDIRECT_BASE", `${JSON.stringify(raw)} is not a URL`);
  }
  const base = url.href.replace(/\/+$/, "");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url)))
    throw new ConfigError("STORED_REDIRECT_BASE", `${JSON.stringify(raw)} is not https (plain http is only for loopback)`);
  // A percent sign in a base is a typo or a disguise (an escaped slash hiding a dot segment); port 0 reaches nobody.
  if (raw.includes("%") || url.port === "0")
    throw new ConfigError("STORED_REDIRECT_BASE", `${JSON.stringify(raw)} must be a plain base URL, without percent-escapes or port 0`);
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "" || raw.includes("?") || raw.includes("#"))
    throw new ConfigError(
      "STORED_REDIRECT_BASE",
      `${JSON.stringify(raw)} must be a plain base URL, without credentials, query or fragment`,
    );
  // Anything the URL parser had to rewrite (spaces, backslashes, dot segments, case) is a typo, not a base.
  if (raw.replace(/\/+$/, "") !== base)
    throw new ConfigError(
      "STORED_REDIRECT_BASE",
      `${JSON.stringify(raw)} is not written as a plain URL (it reads as ${JSON.stringify(base)})`,
    );
  return base;
}
