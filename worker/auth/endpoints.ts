/**
 * `/auth/refresh` (Pkg's refresh contract: a GET with the refresh token as bearer, answered with
 * the TOML Pkg writes back whole as auth.toml) and `/auth/revoke` (the operator tool's POST with
 * an admin token).
 */

import type { Runtime } from "../runtime";
import type { RequestNote } from "../ops/access-log";
import { authToml, unauthorized } from "./answers";
import { authenticate } from "./check";
import { revoke, RevocationContended, type Revocation } from "./revocation";
import { issueToken } from "./token";
import { textUpTo } from "../streams/bytes";

const NO_STORE = { "cache-control": "no-store" };

function onlyMethod(request: Request, allowed: string): Response | null {
  if (request.method === allowed) return null;
  return new Response(null, { status: 405, headers: { allow: allowed, ...NO_STORE } });
}

export async function refreshAnswer(rt: Runtime, request: Request, note: RequestNote): Promise<Response> {
  const wrong = onlyMethod(request, "GET");
  if (wrong) return wrong;
  const grant = await authenticate(rt, request.headers.get("authorization"), "refresh");
  if (!grant.ok) {
    note.authRefusal = grant.reason;
    return unauthorized(grant.reason, request, rt.config.auth.help, rt.config.pathPrefix);
  }
  const { sub, exp, gid, giat } = grant.payload;
  note.authUser = sub;
  const now = Math.floor(Date.now() / 1000);
  const key = rt.secrets.authSigningKey!;
  // An access token never outlives the grant it came from; the new refresh token keeps its expiry;
  // both stay in the grant, so revoking it (or its user) reaches them too.
  const lifetime = Math.min(rt.config.auth.accessTtlSeconds, exp - now);
  const access = await issueToken(key, sub, "access", lifetime, now, { gid, giat });
  const refresh = await issueToken(key, sub, "refresh", exp - now, now, { gid, giat });
  const url = new URL(request.url);
  const body = authToml({
    access_token: access.token,
    expires_in: lifetime,
    expires_at: access.payload.exp,
    refresh_token: refresh.token,
    refresh_url: `${url.origin}${rt.config.pathPrefix}/auth/refresh`,
  });
  return new Response(body, {
    headers: { "content-type": "application/toml", ...NO_STORE },
  });
}

const MAX_BODY_BYTES = 4096;

function revocationOf(json: unknown): Revocation | null {
  if (typeof json !== "object" || json === null) return null;
  const { user, jti } = json as { user?: unknown; jti?: unknown };
  if (typeof user === "string" && jti === undefined && /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/.test(user)) return { user };
  if (typeof jti === "string" && user === undefined && /^[A-Za-z0-9_-]{8,64}$/.test(jti)) return { jti };
  return null;
}

export async function revokeAnswer(rt: Runtime, request: Request, note: RequestNote): Promise<Response> {
  const wrong = onlyMethod(request, "POST");
  if (wrong) return wrong;
  const admin = await authenticate(rt, request.headers.get("authorization"), "admin");
  if (!admin.ok) {
    note.authRefusal = admin.reason;
    return unauthorized(admin.reason, request, rt.config.auth.help, rt.config.pathPrefix);
  }
  note.authUser = admin.payload.sub;
  const text = request.body ? await textUpTo(request.body, MAX_BODY_BYTES) : "";
  let what: Revocation | null = null;
  try {
    what = text === null ? null : revocationOf(JSON.parse(text));
  } catch {
    what = null;
  }
  if (!what)
    return Response.json(
      { error: `expected a JSON body of at most ${MAX_BODY_BYTES} bytes, {"user": "<name>"} or {"jti": "<token or grant id>"}` },
      { status: 400, headers: NO_STORE },
    );
  try {
    await revoke(rt.store, what);
  } catch (err) {
    if (!(err instanceof RevocationContended)) throw err;
    return Response.json({ error: err.message }, { status: 503, headers: { "retry-after": "1", ...NO_STORE } });
  }
  return Response.json({ revoked: what, takes_effect_within_seconds: rt.config.auth.revocationTtlSeconds }, { headers: NO_STORE });
}
