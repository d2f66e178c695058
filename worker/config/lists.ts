/** The `list` variables: each item checked, duplicates and empty lists refused. */

import { isLoopback } from "../protocol/loopback";
import { ConfigError } from "./error";
import { baseUrl, items } from "./kinds";
import { DEFAULT_BINARY_MIRRORS, DEFAULT_REGISTRIES, DEFAULT_UPSTREAMS, type VariableName } from "./table";

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
  /**
   * The registry's history: a GitHub commits API URL (`https://api.github.com/repos/{owner}/{repo}/commits`,
   * optionally `?sha=<branch>`) whose commits, newest first, carry each snapshot's tree hash. Absent:
   * snapshots are ordered by their content alone.
   */
  historyUrl?: string;
}

/** A comma-separated list: absent means the default; set but empty is an error. */
function commaList(name: VariableName, raw: string | undefined, fallback: string, what: string): string[] {
  const list = items(raw ?? fallback);
  if (list.length === 0) throw new ConfigError(name, `the list of ${what} is empty`);
  return list;
}

/** An absent UPSTREAM_SERVERS means the defaults; one that is set but lists nothing is an error. */
export function parseUpstreams(raw: string | undefined): string[] {
  const name = "UPSTREAM_SERVERS";
  return commaList(name, raw, DEFAULT_UPSTREAMS, "upstream servers").map((item) => baseUrl(name, item, "upstream"));
}

export function refuseInsecure(name: VariableName, urls: string[], allowed: boolean): void {
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

/** GitHub's tarball URL for a tree hash names the repository whose commits API is the history. */
const GITHUB_TARBALL = /^https:\/\/api\.github\.com\/repos\/([\w.-]+)\/([\w.-]+)\/tarball\/\{hash\}$/;

/** The history a registry's origin implies: the commits of the same GitHub repository (default branch). */
function historyFromOrigin(template: string | undefined): string | undefined {
  const m = template === undefined ? null : GITHUB_TARBALL.exec(template);
  return m ? `https://api.github.com/repos/${m[1]}/${m[2]}/commits` : undefined;
}

/**
 * `REGISTRY_HISTORY`: comma-separated `uuid=URL` entries (`uuid=none`: no history), each naming a
 * registry of REGISTRIES. A registry not named reads the history its GitHub origin implies.
 */
function parseHistories(raw: string | undefined, uuids: ReadonlySet<string>): Map<string, string | undefined> {
  const name = "REGISTRY_HISTORY";
  const out = new Map<string, string | undefined>();
  for (const item of items(raw ?? "")) {
    const eq = item.indexOf("=");
    if (eq < 0) throw new ConfigError(name, `expected uuid=URL (or uuid=none), got ${JSON.stringify(item)}`);
    const uuid = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!uuids.has(uuid)) throw new ConfigError(name, `${JSON.stringify(uuid)} is not a registry of REGISTRIES`);
    if (out.has(uuid)) throw new ConfigError(name, `${uuid} is listed twice`);
    if (value === "none") {
      out.set(uuid, undefined);
      continue;
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(name, `the history of ${uuid} is not a URL: ${JSON.stringify(value)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new ConfigError(name, `the history of ${uuid} is not an http(s) URL: ${JSON.stringify(value)}`);
    out.set(uuid, value);
  }
  return out;
}

/**
 * `REGISTRIES`: comma-separated `uuid` or `uuid=originTemplate` entries, the template with `{hash}`;
 * with `REGISTRY_HISTORY`, where each registry's history is read.
 */
export function parseRegistries(raw: string | undefined, historyRaw?: string): RegistryConfig[] {
  const registries = parseRegistryOrigins(raw);
  const histories = parseHistories(historyRaw, new Set(registries.map((r) => r.uuid)));
  return registries.map((r) => {
    const historyUrl = histories.has(r.uuid) ? histories.get(r.uuid) : historyFromOrigin(r.originTemplate);
    return historyUrl === undefined ? r : { ...r, historyUrl };
  });
}

function parseRegistryOrigins(raw: string | undefined): RegistryConfig[] {
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

/**
 * `BINARY_MIRRORS`: comma-separated `name=baseURL`. Absent means the default (the two public
 * buckets of Julia binaries); set but empty turns the `/mirror/` routes off.
 */
export function parseBinaryMirrors(raw: string | undefined): BinaryMirror[] {
  const name = "BINARY_MIRRORS";
  const seen = new Set<string>();
  return items(raw ?? DEFAULT_BINARY_MIRRORS).map((item) => {
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
export function parseSiblings(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return items(raw).map((item) => baseUrl("SIBLINGS", item, "sibling"));
}

/** `PREFETCH_PLATFORMS`: platform triples (none: all). */
export function parsePlatforms(raw: string | undefined): string[] {
  return items(raw ?? "").map((p) => {
    if (!/^[a-z0-9_]+-[a-z0-9_-]+$/.test(p))
      throw new ConfigError("PREFETCH_PLATFORMS", `expected platform triples such as x86_64-linux-gnu, got ${JSON.stringify(p)}`);
    return p;
  });
}
