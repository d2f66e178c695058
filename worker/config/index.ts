/**
 * Configuration, parsed once per environment into a typed object.
 *
 * The variable names are a contract with operators and tooling (`wrangler dev --var NAME:VALUE`,
 * `.dev.vars`, wrangler.toml `[vars]`), listed with their kinds, defaults and bounds in table.ts.
 * A bad value becomes a ConfigError that names the variable; the worker then answers every request
 * with a 500 that says so, instead of crashing.
 */

import { Checker, ConfigError } from "./error";
import { flag, integer, text, choice, type Vars } from "./kinds";
import { parseBinaryMirrors, parseRegistries, parseSiblings, parseUpstreams, refuseInsecure } from "./lists";
import { analyticsSql, fillSizes, multipart, prefetch, storage, storedRedirect, upstreamPacing } from "./rules";
import type { Config } from "./types";
import { auth } from "./auth";
import { parseRegistryCredentials, parseUpstreamCredentials } from "./credentials";
import { isLoopback } from "../protocol/loopback";

export { ConfigError } from "./error";
export { parseBinaryMirrors, type BinaryMirror, type RegistryConfig } from "./lists";
export { missingS3Secrets, parseSecrets, S3_SECRETS } from "./secrets";
export { configSummary } from "./summary";
export { parseRegistryCredentials } from "./credentials";
export type { Secrets } from "./table";
export type { Config } from "./types";

function pathPrefix(vars: Vars): string {
  const raw = text(vars, "PATH_PREFIX");
  if (raw === undefined || raw === "/") return "";
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(raw) || raw.split("/").some((s) => s === "." || s === "..")) {
    throw new ConfigError("PATH_PREFIX", `expected a path such as /julia, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/$/, "");
}

/** A list variable set but blank means "none" for some lists, so it is read before `text` blanks it out. */
function rawList(vars: Vars, name: "UPSTREAM_SERVERS" | "BINARY_MIRRORS"): string | undefined {
  const value = vars[name];
  return typeof value === "string" ? value : text(vars, name);
}

function secretText(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The variables (never the secrets: parseSecrets), every problem found at once as one ConfigError. */
export function parseConfig(vars: Vars): Config {
  const c = new Checker();
  const parts = multipart(vars, c);
  const pacing = upstreamPacing(vars, c);
  const sizes = fillSizes(vars, c);
  const upstreams = c.check(() => parseUpstreams(rawList(vars, "UPSTREAM_SERVERS")));
  const registries = c.check(() => parseRegistries(text(vars, "REGISTRIES"), text(vars, "REGISTRY_HISTORY")));
  const allowInsecureUpstreams = c.check(() => flag(vars, "ALLOW_INSECURE_UPSTREAMS"));
  const allowed = allowInsecureUpstreams ?? false;
  if (upstreams) c.check(() => refuseInsecure("UPSTREAM_SERVERS", upstreams, allowed));
  if (registries)
    c.check(() =>
      refuseInsecure(
        "REGISTRIES",
        registries.flatMap((r) => (r.originTemplate ? [r.originTemplate] : [])),
        allowed,
      ),
    );
  if (registries)
    c.check(() =>
      refuseInsecure(
        "REGISTRY_HISTORY",
        registries.flatMap((r) => (r.historyUrl ? [r.historyUrl] : [])),
        allowed,
      ),
    );
  // Set but empty (even blank) turns the mirror off.
  const binaryMirrors = c.check(() => parseBinaryMirrors(rawList(vars, "BINARY_MIRRORS")));
  if (binaryMirrors)
    c.check(() =>
      refuseInsecure(
        "BINARY_MIRRORS",
        binaryMirrors.map((m) => m.base),
        allowed,
      ),
    );
  // Secrets, checked here against the lists they name; their values live only in Secrets. What a
  // credential reaches must not be served to anyone: a private upstream needs AUTH on (or access
  // controlled in front: external), a private registry all of pkgedge behind it (its hashes and
  // package names show on the status page and /meta otherwise).
  const authConfig = c.check(() => auth(vars));
  const mode = authConfig?.mode;
  if (mode !== undefined && secretText(vars.UPSTREAM_CREDENTIALS) && mode === "off")
    c.check(() => {
      throw new ConfigError(
        "UPSTREAM_CREDENTIALS",
        "with AUTH=off pkgedge would serve what these credentials reach to anyone: set AUTH=protocol or all, or AUTH=external when access is controlled in front of pkgedge",
      );
    });
  if (mode !== undefined && secretText(vars.REGISTRY_CREDENTIALS) && (mode === "off" || mode === "protocol"))
    c.check(() => {
      throw new ConfigError(
        "REGISTRY_CREDENTIALS",
        `with AUTH=${mode} a private registry's snapshots and package names would be public (the status page, /meta): set AUTH=all, or AUTH=external when access is controlled in front of pkgedge`,
      );
    });
  if (upstreams && binaryMirrors)
    c.check(() => parseUpstreamCredentials(secretText(vars.UPSTREAM_CREDENTIALS), [...upstreams, ...binaryMirrors.map((m) => m.base)]));
  if (registries)
    c.check(() => {
      const credentials = parseRegistryCredentials(
        secretText(vars.REGISTRY_CREDENTIALS),
        registries.map((r) => r.uuid),
      );
      // pkgedge sends a registry's credential only over https or to loopback: one it never sends is a mistake to say.
      for (const r of registries.filter((r) => credentials.has(r.uuid)))
        for (const url of [r.originTemplate?.replace("{hash}", "0"), r.historyUrl])
          if (url !== undefined && new URL(url).protocol !== "https:" && !isLoopback(new URL(url)))
            throw new ConfigError(
              "REGISTRY_CREDENTIALS",
              `${r.uuid}: ${new URL(url).origin} is not https, so its credential would never be sent`,
            );
    });
  const config: Config = {
    upstreams,
    registries,
    allowInsecureUpstreams,
    binaryMirrors,
    siblings: c.check(() => parseSiblings(text(vars, "SIBLINGS"))),
    analyticsSql: c.check(() => analyticsSql(vars)),
    accessLog: c.check(() => choice(vars, "ACCESS_LOG")),
    logFormat: c.check(() => choice(vars, "LOG_FORMAT")),
    runId: text(vars, "PKGEDGE_RUN_ID") ?? null,
    binaryMirrorTtlSeconds: c.check(() => integer(vars, "BINARY_MIRROR_TTL_SECONDS")),
    registryTtlSeconds: c.check(() => integer(vars, "REGISTRY_TTL_SECONDS")),
    negativeTtlSeconds: c.check(() => integer(vars, "NEGATIVE_TTL_SECONDS")),
    failureTtlSeconds: c.check(() => integer(vars, "UPSTREAM_FAILURE_TTL_SECONDS")),
    upstreamTimeoutMs: c.check(() => integer(vars, "UPSTREAM_TIMEOUT_MS")),
    upstreamIdleTimeoutMs: pacing.idleTimeoutMs,
    upstreamMinBytesPerSecond: c.check(() => integer(vars, "UPSTREAM_MIN_BYTES_PER_SECOND")),
    upstreamMinRateWindowMs: pacing.minRateWindowMs,
    multipartThresholdBytes: parts.thresholdBytes,
    multipartPartBytes: parts.partBytes,
    pathPrefix: c.check(() => pathPrefix(vars)),
    storedRedirectBase: c.check(() => storedRedirect(vars, mode)),
    fillWindowBytes: c.check(() => integer(vars, "FILL_WINDOW_BYTES")),
    unattendedFillMaxBytes: c.check(() => integer(vars, "UNATTENDED_FILL_MAX_BYTES")),
    unattendedFillGraceSeconds: c.check(() => integer(vars, "UNATTENDED_FILL_GRACE_SECONDS")),
    verifyFirst: {
      patienceMs: c.check(() => integer(vars, "VERIFY_FIRST_PATIENCE_MS")),
      maxBytes: c.check(() => integer(vars, "VERIFY_FIRST_MAX_BYTES")),
    },
    fillMaxResumptions: c.check(() => integer(vars, "FILL_MAX_RESUMPTIONS")),
    fillMaxAttempts: c.check(() => integer(vars, "FILL_MAX_ATTEMPTS")),
    fillBackoffSeconds: c.check(() => integer(vars, "FILL_BACKOFF_SECONDS")),
    verifyMaxEntries: c.check(() => integer(vars, "VERIFY_MAX_ENTRIES")),
    fillMaxBytes: sizes.fillMaxBytes,
    verifyMaxRatio: c.check(() => integer(vars, "VERIFY_MAX_RATIO")),
    verifyMaxDecompressedBytes: sizes.verifyMaxDecompressedBytes,
    s3TimeoutMs: c.check(() => integer(vars, "S3_TIMEOUT_MS")),
    storage: c.check(() => storage(vars)),
    prefetch: c.check(() => prefetch(vars)),
    auth: authConfig,
    zstd: {
      mode: c.check(() => choice(vars, "ZSTD")),
      level: c.check(() => integer(vars, "ZSTD_LEVEL")),
      maxWindowBytes: c.check(() => integer(vars, "ZSTD_MAX_WINDOW_BYTES")),
      maxTranscodeBytes: c.check(() => integer(vars, "ZSTD_MAX_TRANSCODE_BYTES")),
    },
  };
  c.done();
  return config;
}
