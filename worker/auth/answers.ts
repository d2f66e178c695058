/**
 * What an unauthenticated request is told: why its token was refused, where to get one, and which
 * file Pkg reads it from, with this server's own host (Pkg keeps tokens per server).
 */

/** Why a request was refused, for the access log and the 401: a token's own problem, or none sent. */
export type AuthRefusal = "missing" | "malformed" | "signature" | "expired" | "wrong-type" | "revoked" | "future";

const WHY: Record<AuthRefusal, string> = {
  missing: "no token was sent",
  malformed: "the token sent is not a token of this server",
  signature: "the token sent is not valid here (it was issued by another server, or altered)",
  expired: "the token has expired",
  "wrong-type": "the token sent is not an access token (a refresh token only works at /auth/refresh)",
  revoked: "the token was revoked",
  future: "the token was issued in the future (the clock of the machine that issued it is ahead): ask for a new one",
};

const DEFAULT_HELP = "ask the operator of this server";

/** Pkg's directory for a server: its host and port, ":" written as "_" (Julia 1.5's Pkg keeps the ":"). */
function serverDirName(url: string): string {
  return new URL(url).host.replace(/:/g, "_");
}

/** Where auth.toml goes, in words: with a port, Julia 1.5 names the directory host:port. */
export function authFilePlace(url: string): string {
  const host = new URL(url).host;
  const place = `~/.julia/servers/${serverDirName(url)}/auth.toml`;
  return host.includes(":") ? `${place} (Julia 1.5: ~/.julia/servers/${host}/auth.toml)` : place;
}

export function unauthorized(reason: AuthRefusal, request: Request, help: string | null, prefix: string): Response {
  const url = new URL(request.url);
  const body = [
    `401 Unauthorized: this Pkg server (${url.origin}${prefix}) needs a token, and ${WHY[reason]}.`,
    `Get a token: ${help ?? DEFAULT_HELP}.`,
    `Put the auth.toml you are given in ${authFilePlace(request.url)} (in the first depot of JULIA_DEPOT_PATH), with JULIA_PKG_SERVER=${url.origin}${prefix}.`,
    "",
  ].join("\n");
  return new Response(body, {
    status: 401,
    headers: {
      "www-authenticate": 'Bearer realm="pkgedge"',
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/** A TOML basic string (tokens and URLs carry no control characters: one that did is a bug). */
function tomlString(value: string): string {
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new Error("a control character in auth.toml");
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export interface AuthFile {
  access_token: string;
  expires_at: number;
  expires_in?: number;
  refresh_token: string;
  refresh_url: string;
}

/** auth.toml as Pkg reads it (and as /auth/refresh answers: Pkg writes the whole answer back as the file). */
export function authToml(file: AuthFile): string {
  const lines = [`access_token = ${tomlString(file.access_token)}`];
  if (file.expires_in !== undefined) lines.push(`expires_in = ${file.expires_in}`);
  lines.push(
    `expires_at = ${file.expires_at}`,
    `refresh_token = ${tomlString(file.refresh_token)}`,
    `refresh_url = ${tomlString(file.refresh_url)}`,
  );
  return `${lines.join("\n")}\n`;
}
