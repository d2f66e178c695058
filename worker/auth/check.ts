/** Whether a request's bearer token is good for what it asks: signature, type, expiry, then the revocation list. */

import type { Runtime } from "../runtime";
import type { AuthRefusal } from "./answers";
import { isRevoked, revocations } from "./revocation";
import { bearerToken, verifyToken, type TokenPayload, type TokenType } from "./token";

export type Authentication = { ok: true; payload: TokenPayload } | { ok: false; reason: AuthRefusal };

export async function authenticate(rt: Runtime, authorization: string | null, expected: TokenType): Promise<Authentication> {
  const token = bearerToken(authorization);
  if (token === null) return { ok: false, reason: authorization === null ? "missing" : "malformed" };
  // The configuration refuses AUTH≠off without the key, so it is set whenever this runs.
  const check = await verifyToken(rt.secrets.authSigningKey!, token, expected);
  if (!check.ok) return check;
  // Only a well-signed token costs a read of the list (and at most one per TTL per isolate).
  if (isRevoked(await revocations(rt.store, rt.config.auth.revocationTtlSeconds), check.payload)) return { ok: false, reason: "revoked" };
  return check;
}
