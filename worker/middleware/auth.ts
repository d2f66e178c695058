/**
 * Client authentication (AUTH=protocol or all): the protected routes need a valid access token
 * as `Authorization: Bearer`; without one the answer is a 401 before anything is read from the
 * bucket or asked of an upstream. Authenticated answers are made `private`, so no shared cache
 * keeps them for someone else; the bucket still holds each object once for everyone.
 */

import { createMiddleware } from "hono/factory";
import { unauthorized } from "../auth/answers";
import { authenticate } from "../auth/check";
import { refreshAnswer, revokeAnswer } from "../auth/endpoints";
import type { AuthConfig } from "../config/types";
import type { AppEnv } from "./context";

const PROTOCOL_PREFIXES = ["/registries", "/registry/", "/package/", "/artifact/", "/mirror/"];

/**
 * Which paths need a token. `protocol`: the protocol routes and the binary mirror (the status page
 * and /meta* stay public, for monitoring). `all`: everything but /robots.txt and /metrics, which
 * has its own bearer token (METRICS_TOKEN) that a scraper sends instead.
 */
function isProtected(mode: AuthConfig["mode"], path: string): boolean {
  if (mode === "off" || mode === "external") return false;
  if (mode === "all") return path !== "/robots.txt" && path !== "/metrics";
  return PROTOCOL_PREFIXES.some((p) => path.startsWith(p));
}

/** `public` becomes `private`, other directives (max-age, immutable) kept; `private` added when absent. */
export function privately(cacheControl: string | null): string {
  if (cacheControl === null || cacheControl.trim() === "") return "private";
  const directives = cacheControl
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "")
    .map((d) => (d.toLowerCase() === "public" ? "private" : d));
  if (!directives.some((d) => d.toLowerCase() === "private")) directives.unshift("private");
  return directives.join(", ");
}

export const clientAuth = createMiddleware<AppEnv>(async (c, next) => {
  const rt = c.get("rt");
  const { mode, help } = rt.config.auth;
  if (mode === "off" || mode === "external") return next();
  const path = c.req.path;
  const note = c.get("note");
  if (path === "/auth/refresh") return refreshAnswer(rt, c.req.raw, note);
  if (path === "/auth/revoke") return revokeAnswer(rt, c.req.raw, note);
  if (!isProtected(mode, path)) return next();
  const result = await authenticate(rt, c.req.header("authorization") ?? null, "access");
  if (!result.ok) {
    note.authRefusal = result.reason;
    return unauthorized(result.reason, c.req.raw, help, rt.config.pathPrefix);
  }
  note.authUser = result.payload.sub;
  await next();
  const res = c.res;
  const headers = new Headers(res.headers);
  headers.set("cache-control", privately(res.headers.get("cache-control")));
  c.res = undefined;
  c.res = new Response(res.body, { status: res.status, statusText: res.statusText, headers });
});
