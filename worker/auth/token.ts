/**
 * pkgedge's bearer tokens: stateless, signed with the deployment's AUTH_SIGNING_KEY, so any isolate
 * checks one without a lookup. `pkgedge1.<payload>.<mac>`, the payload base64url JSON, the mac
 * base64url HMAC-SHA256 over "pkgedge1." + payload part. The worker and the operator's token tool
 * (infra/token.ts, under Node) both use this module, so it imports nothing.
 */

const TOKEN_PREFIX = "pkgedge1";

/** access: for the served routes; refresh: only for /auth/refresh; admin: only for /auth/revoke. */
export type TokenType = "access" | "refresh" | "admin";

export interface TokenPayload {
  sub: string;
  typ: TokenType;
  /** Issued and expiry times, in seconds since the epoch. */
  iat: number;
  exp: number;
  /** A random identifier: what the log may show and what /auth/revoke can name. */
  jti: string;
  /**
   * The grant a token belongs to: every token `npm run token` issues together, and every token
   * refreshed from them, share its id and its issue time. Revoking the grant's id, or a user at or
   * after the grant's issue time, reaches them all (a refreshed token is not a way out).
   */
  gid: string;
  giat: number;
}

/** The grant a token starts or continues. */
export interface Grant {
  gid: string;
  giat: number;
}

/** Why a token was refused: each becomes its own sentence in a 401. */
type TokenRefusal = "malformed" | "signature" | "expired" | "wrong-type" | "revoked" | "future";

/**
 * How far ahead of this server's clock a token's issue time may be (the operator's machine signs
 * `npm run token`'s). A token from further ahead is refused: it would escape a user revocation made
 * before its issue time.
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;
/** The longest grant `npm run token` issues: five years. */
export const MAX_GRANT_SECONDS = 5 * 365 * 86400;

export type TokenCheck = { ok: true; payload: TokenPayload } | { ok: false; reason: TokenRefusal };

/** The user names a token may carry: they reach logs and the revocation list as they are. */
const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const JTI_RE = /^[A-Za-z0-9_-]{8,64}$/;
const TYPES: readonly string[] = ["access", "refresh", "admin"];
/** The shortest signing key accepted: 32 characters. */
export const MIN_SIGNING_KEY_LENGTH = 32;

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of base64url text, or null; only the canonical spelling (so one token has one spelling). */
function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  let bytes: Uint8Array;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
  // atob ignores the unused low bits of the last character: a sibling spelling decodes the same.
  return base64url(bytes) === text ? bytes : null;
}

/**
 * Whether two byte strings are equal, in time that depends only on their lengths (which are not
 * secret here: a MAC is always 32 bytes): every byte is looked at, whatever differs first.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function mac(key: string, message: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(message)));
}

function newTokenId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(12)));
}

/**
 * A new token for `sub`, of type `typ`, valid from `now` for `lifetimeSeconds` (times in seconds),
 * in `grant` (a refresh continues its grant), or starting a grant of its own.
 */
export async function issueToken(
  key: string,
  sub: string,
  typ: TokenType,
  lifetimeSeconds: number,
  now = Math.floor(Date.now() / 1000),
  grant: Grant = { gid: newTokenId(), giat: now },
): Promise<{ token: string; payload: TokenPayload }> {
  if (!USER_RE.test(sub)) throw new Error(`a user name is letters, digits and . _ @ + - (at most 64), got ${JSON.stringify(sub)}`);
  const payload: TokenPayload = { sub, typ, iat: now, exp: now + lifetimeSeconds, jti: newTokenId(), gid: grant.gid, giat: grant.giat };
  return { token: await sign(key, payload), payload };
}

/** Signs a payload as it is (a refreshed token keeps its grant's expiry). */
export async function sign(key: string, payload: TokenPayload): Promise<string> {
  const body = `${TOKEN_PREFIX}.${base64url(encoder.encode(JSON.stringify(payload)))}`;
  return `${body}.${base64url(await mac(key, body))}`;
}

function payloadOf(json: unknown): TokenPayload | null {
  if (typeof json !== "object" || json === null) return null;
  const p = json as Record<string, unknown>;
  const whole = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v);
  if (typeof p.sub !== "string" || !USER_RE.test(p.sub)) return null;
  if (typeof p.typ !== "string" || !TYPES.includes(p.typ)) return null;
  if (!whole(p.iat) || !whole(p.exp) || typeof p.jti !== "string" || !JTI_RE.test(p.jti)) return null;
  // Tokens issued before grants were recorded are each a grant of their own.
  const gid = p.gid ?? p.jti;
  const giat = p.giat ?? p.iat;
  if (typeof gid !== "string" || !JTI_RE.test(gid) || !whole(giat) || (giat as number) > (p.iat as number)) return null;
  return { sub: p.sub, typ: p.typ as TokenType, iat: p.iat as number, exp: p.exp as number, jti: p.jti, gid, giat: giat as number };
}

/**
 * Checks a token's signature under `key` (another deployment's key fails here), then its type and
 * expiry at `now` (seconds). The payload is read only once the signature holds.
 */
export async function verifyToken(
  key: string,
  token: string,
  expected: TokenType,
  now = Math.floor(Date.now() / 1000),
): Promise<TokenCheck> {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX || token.length > 2048) return { ok: false, reason: "malformed" };
  const sent = fromBase64url(parts[2]!);
  const payloadBytes = fromBase64url(parts[1]!);
  if (!sent || !payloadBytes) return { ok: false, reason: "malformed" };
  if (!constantTimeEqual(sent, await mac(key, `${parts[0]}.${parts[1]}`))) return { ok: false, reason: "signature" };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(payloadBytes));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const payload = payloadOf(json);
  if (!payload) return { ok: false, reason: "malformed" };
  if (payload.typ !== expected) return { ok: false, reason: "wrong-type" };
  if (payload.exp <= now) return { ok: false, reason: "expired" };
  if (payload.iat > now + MAX_CLOCK_SKEW_SECONDS) return { ok: false, reason: "future" };
  return { ok: true, payload };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | null): string | null {
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/** Lifetimes as the operator writes them: 90d, 12h, 30m, 3600s (or a bare number of seconds), up to MAX_GRANT_SECONDS. */
export function parseLifetime(text: string): number | null {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return n > 0 && n <= MAX_GRANT_SECONDS ? n : null;
}
