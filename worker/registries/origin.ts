/**
 * Asking a registry's origin whether it knows a tree hash (PkgServer.jl's verify_registry_hash):
 * a HEAD on the URL Pkg itself would download that snapshot from, e.g. GitHub's tarball URL for
 * General. A snapshot no origin knows is never published, whoever advertises it.
 */

import type { RegistryConfig } from "../config";
import { describeFailure, UPSTREAM_HEADERS } from "../upstream/upstream";
import { isLoopback } from "../protocol/loopback";

export type OriginAnswer = { kind: "known" } | { kind: "unknown"; status: number } | { kind: "unavailable"; error: string };

/** Hosts a GITHUB_TOKEN may be sent to; never anywhere else. */
const GITHUB_API = "api.github.com";

/** The Authorization header for an origin URL: the token only to GitHub's API, and only over https (never in the clear). */
export function originAuthorization(url: string, githubToken?: string): string | null {
  if (!githubToken) return null;
  const parsed = new URL(url);
  return parsed.protocol === "https:" && parsed.hostname === GITHUB_API ? `Bearer ${githubToken}` : null;
}

/** A registry's own credential (REGISTRY_CREDENTIALS) and the hosts it may go to: its origin's and its history's. */
export interface RegistryCredential {
  value: string;
  hosts: string[];
}

/** The hosts of a registry's origin template and history URL. */
export function registryHosts(registry: RegistryConfig): string[] {
  const urls = [registry.originTemplate?.replace("{hash}", "0"), registry.historyUrl].filter((u): u is string => u !== undefined);
  return [...new Set(urls.map((u) => new URL(u).host))];
}

/**
 * The Authorization header for a registry's origin or history URL: its own credential to its own
 * hosts (over https, or to loopback), else GITHUB_TOKEN to GitHub's API.
 */
export function registryAuthorization(url: string, githubToken?: string, credential?: RegistryCredential): string | null {
  if (!credential) return originAuthorization(url, githubToken);
  const parsed = new URL(url);
  const safe = parsed.protocol === "https:" || isLoopback(parsed);
  return safe && credential.hosts.includes(parsed.host) ? credential.value : null;
}

export async function askOrigin(
  registry: RegistryConfig & { originTemplate: string },
  hash: string,
  timeoutMs: number,
  githubToken?: string,
  credential?: RegistryCredential,
): Promise<OriginAnswer> {
  let url = registry.originTemplate.replace("{hash}", hash);
  try {
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...UPSTREAM_HEADERS };
      const authorization = registryAuthorization(url, githubToken, credential);
      if (authorization !== null) headers.authorization = authorization;
      const res = await fetch(url, { method: "HEAD", headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel();
      // A moved resource (a renamed repository: GitHub answers 301 whatever the hash) says nothing
      // about the hash yet: asked again where it moved, a few times at most. So does a temporary
      // redirect within the origin's host (a private Git host's web route sends a request it does
      // not authorize to its sign-in page, whatever the hash), and, for a registry with a credential,
      // any temporary redirect: only where it leads can say.
      const location = res.headers.get("location");
      const next = location ? new URL(location, url) : null;
      const followed =
        MOVED.has(res.status) || (TO_DOWNLOAD.has(res.status) && (credential !== undefined || next?.host === new URL(url).host));
      if (followed && next && hop < MAX_MOVES) {
        url = next.href;
        continue;
      }
      // A temporary redirect to the download (GitHub answers 302 to its download host) says the origin knows the hash.
      if (TO_DOWNLOAD.has(res.status) && !followed) return { kind: "known" };
      // A web page is not a download: a sign-in page answers 200 for every hash.
      if (res.status >= 200 && res.status < 300 && /^text\/html\b/i.test(res.headers.get("content-type") ?? ""))
        return { kind: "unavailable", error: `${new URL(url).host} answered a web page, not a download (does the credential reach it?)` };
      if (res.status >= 200 && res.status < 300) return { kind: "known" };
      if (res.status === 404 || res.status === 410 || res.status === 422) return { kind: "unknown", status: res.status };
      // 401/403/429 (GitHub's rate limit: 60 an hour per address without a token), 5xx and other 3xx say nothing.
      const limit = res.headers.get("x-ratelimit-remaining") === "0" ? " (rate limited: set GITHUB_TOKEN)" : "";
      return { kind: "unavailable", error: `${new URL(url).host} answered ${res.status}${limit}` };
    }
  } catch (err) {
    return { kind: "unavailable", error: describeFailure(err, url, timeoutMs) };
  }
}

const MOVED = new Set([301, 308]);
const TO_DOWNLOAD = new Set([302, 303, 307]);
const MAX_MOVES = 3;
