/**
 * Credentials for private upstreams and registries (secrets): `<target>=<Authorization value>`
 * entries, comma-separated. Errors name the variable and the target, never the value.
 */

import { ConfigError } from "./error";
import { baseUrl, items } from "./kinds";
import { isLoopback } from "../protocol/loopback";

/** Target (an upstream base URL, or a registry UUID) to the Authorization header value sent to it. */
export type CredentialMap = ReadonlyMap<string, string>;

type CredentialVariable = "UPSTREAM_CREDENTIALS" | "REGISTRY_CREDENTIALS";

/** Each entry split at its first `=`: the target before it, the header value after (which may hold `=`). */
function entries(name: CredentialVariable, raw: string | undefined): [string, string][] {
  return items(raw ?? "").map((item, index) => {
    const at = item.indexOf("=");
    const target = at < 0 ? "" : item.slice(0, at).trim();
    const value = at < 0 ? "" : item.slice(at + 1).trim();
    // Only the position is named: an entry without `=` may be the value itself.
    if (target === "" || value === "") throw new ConfigError(name, `entry ${index + 1} is not <target>=<Authorization header value>`);
    if (/[\r\n]/.test(value)) throw new ConfigError(name, `the value for ${target} holds a line break`);
    return [target, value];
  });
}

/** UPSTREAM_CREDENTIALS: each base URL must be one of UPSTREAM_SERVERS or a BINARY_MIRRORS base. */
export function parseUpstreamCredentials(raw: string | undefined, known: readonly string[]): Map<string, string> {
  const name = "UPSTREAM_CREDENTIALS";
  const map = new Map<string, string>();
  entries(name, raw).forEach(([target, value], index) => {
    let base: string;
    try {
      base = baseUrl(name, target, "upstream");
    } catch {
      throw new ConfigError(name, `entry ${index + 1} does not start with an upstream base URL`);
    }
    if (!known.includes(base)) throw new ConfigError(name, `${base} is neither in UPSTREAM_SERVERS nor a BINARY_MIRRORS base`);
    // A secret never goes out in the clear (an http upstream is allowed only with ALLOW_INSECURE_UPSTREAMS).
    const url = new URL(base);
    if (url.protocol !== "https:" && !isLoopback(url))
      throw new ConfigError(name, `${base} is not https: its credential would be sent in the clear`);
    if (map.has(base)) throw new ConfigError(name, `${base} is listed twice`);
    map.set(base, value);
  });
  return map;
}

/** REGISTRY_CREDENTIALS: each UUID must be one of REGISTRIES. */
export function parseRegistryCredentials(raw: string | undefined, known: readonly string[]): Map<string, string> {
  const name = "REGISTRY_CREDENTIALS";
  const map = new Map<string, string>();
  entries(name, raw).forEach(([target, value], index) => {
    const uuid = target.toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid))
      throw new ConfigError(name, `entry ${index + 1} does not start with a registry UUID`);
    if (!known.includes(uuid)) throw new ConfigError(name, `${uuid} is not in REGISTRIES`);
    if (map.has(uuid)) throw new ConfigError(name, `${uuid} is listed twice`);
    map.set(uuid, value);
  });
  return map;
}
