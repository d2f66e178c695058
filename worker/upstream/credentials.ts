/**
 * Sending a private upstream's credential (UPSTREAM_CREDENTIALS) with the requests to it, and to
 * nothing else: not to another upstream, and not past a redirect to another origin.
 */

import type { Config } from "../config";
import { parseUpstreamCredentials, type CredentialMap } from "../config/credentials";

let credentials: CredentialMap = new Map();
/** Every upstream base (with a credential or not): a URL belongs to the longest it lies under. */
let bases: readonly string[] = [];

/**
 * The credential of the upstream `url` belongs to, if it has one: the upstream whose base is the
 * longest `url` lies under (base, then `/`), so an upstream nested under another's base is itself.
 */
export function credentialFor(url: string, map: CredentialMap = credentials, known: readonly string[] = bases): string | undefined {
  let owner: string | undefined;
  for (const base of [...known, ...map.keys()])
    if ((url === base || url.startsWith(`${base}/`)) && (owner === undefined || base.length > owner.length)) owner = base;
  return owner === undefined ? undefined : map.get(owner);
}

/** Redirects followed at most, as fetch's own limit would. */
const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * fetch for an upstream URL. Without a credential it is fetch itself. With one, redirects are
 * followed here, the Authorization header only while the origin is the upstream's own.
 */
export function upstreamFetch(url: string, init: RequestInit & { headers: Record<string, string> }): Promise<Response> {
  const authorization = credentialFor(url);
  if (authorization === undefined) return fetch(url, init);
  const origin = new URL(url).origin;
  return scopedFetch(url, init, (at) => (new URL(at).origin === origin ? authorization : null));
}

/**
 * fetch with an Authorization header chosen for each URL it reaches: redirects (unless `init`
 * says "manual") are followed here, so a hop elsewhere gets only what `authorizationFor` gives it.
 */
export async function scopedFetch(
  url: string,
  init: RequestInit & { headers: Record<string, string> },
  authorizationFor: (url: string) => string | null,
): Promise<Response> {
  const follow = (init.redirect ?? "follow") === "follow";
  let current = url;
  for (let hop = 0; ; hop++) {
    const headers = { ...init.headers };
    delete headers.authorization;
    const authorization = authorizationFor(current);
    if (authorization !== null) headers.authorization = authorization;
    const res = await fetch(current, { ...init, headers, redirect: "manual" });
    const location = res.headers.get("location");
    if (!follow || !REDIRECTS.has(res.status) || location === null || hop >= MAX_REDIRECTS) return res;
    await res.body?.cancel();
    current = new URL(location, current).href;
  }
}

/** Installs UPSTREAM_CREDENTIALS from an environment whose configuration parsed (so they were checked). */
export function useUpstreamCredentialsOf(config: Config, raw: unknown): void {
  bases = [...config.upstreams, ...config.binaryMirrors.map((m) => m.base)];
  credentials = parseUpstreamCredentials(typeof raw === "string" ? raw : undefined, bases);
}
