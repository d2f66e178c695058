/**
 * `npm run token`: issues a user's auth.toml from the deployment's AUTH_SIGNING_KEY (locally: no
 * request is made), or revokes a user's tokens or one token through POST /auth/revoke with an
 * admin token minted the same way. The tokens are the worker's own (worker/auth/token.ts).
 */

import { chmodSync, writeFileSync } from "node:fs";
import { authFilePlace, authToml } from "../worker/auth/answers.ts";
import { issueToken, MAX_GRANT_SECONDS, MIN_SIGNING_KEY_LENGTH, parseLifetime } from "../worker/auth/token.ts";
import { parseCommand } from "./cli.ts";

const { values } = parseCommand({
  usage: "npm run token -- --user NAME --url URL [--expires 90d] | --revoke NAME --url URL | --revoke-token ID --url URL",
  options: {
    user: { type: "string" },
    url: { type: "string" },
    expires: { type: "string", default: "90d" },
    "access-expires": { type: "string", default: "1d" },
    out: { type: "string" },
    revoke: { type: "string" },
    "revoke-token": { type: "string" },
  },
  help: [
    "--user NAME             issue an auth.toml for NAME (printed, or written with --out)",
    "--url URL               the server as users set JULIA_PKG_SERVER (https://pkg.example.org)",
    "--expires LIFETIME      how long the grant (the refresh token) lasts: 90d, 12h, 30m, 3600s (default 90d)",
    "--access-expires LIFE   the first access token's lifetime (default 1d; Pkg refreshes it itself)",
    "--out FILE              write the auth.toml there instead of printing it",
    "--revoke NAME           refuse every token NAME was issued until now",
    "--revoke-token ID       refuse one token (its id: the jti the issue printed)",
  ],
  environment: [`AUTH_SIGNING_KEY  the deployment's signing key (at least ${MIN_SIGNING_KEY_LENGTH} characters)`],
  example: "AUTH_SIGNING_KEY=… npm run token -- --user alice --expires 90d --url https://pkg.example.org",
});

function refuse(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(2);
}

const key = process.env.AUTH_SIGNING_KEY ?? "";
if (key.length < MIN_SIGNING_KEY_LENGTH)
  refuse(`AUTH_SIGNING_KEY must be set in the environment to the deployment's signing key (at least ${MIN_SIGNING_KEY_LENGTH} characters)`);
const url = (values.url ?? "").replace(/\/+$/, "");
if (!/^https?:\/\/[^/]+/.test(url)) refuse("--url must be the server's http(s) address, as users set JULIA_PKG_SERVER");
const actions = [values.user, values.revoke, values["revoke-token"]].filter((v) => v !== undefined);
if (actions.length !== 1) refuse("give exactly one of --user, --revoke, --revoke-token (npm run token -- --help)");

if (values.user !== undefined) {
  const grant = parseLifetime(values.expires!);
  const first = parseLifetime(values["access-expires"]!);
  if (grant === null)
    refuse(`--expires ${JSON.stringify(values.expires)}: expected e.g. 90d, 12h, 30m or 3600s, at most ${MAX_GRANT_SECONDS / 86400}d`);
  if (first === null) refuse(`--access-expires ${JSON.stringify(values["access-expires"])}: expected e.g. 1d, 12h or 3600s`);
  const now = Math.floor(Date.now() / 1000);
  let issued: [Awaited<ReturnType<typeof issueToken>>, Awaited<ReturnType<typeof issueToken>>];
  try {
    // One grant: the refresh token starts it, the first access token belongs to it.
    const refresh = await issueToken(key, values.user, "refresh", grant, now);
    issued = [await issueToken(key, values.user, "access", Math.min(first, grant), now, refresh.payload), refresh];
  } catch (err) {
    refuse(err instanceof Error ? err.message : String(err));
  }
  const [access, refresh] = issued;
  const file = authToml({
    access_token: access.token,
    expires_at: access.payload.exp,
    refresh_token: refresh.token,
    refresh_url: `${url}/auth/refresh`,
  });
  const where = authFilePlace(url);
  if (values.out) {
    writeFileSync(values.out, file, { mode: 0o600 });
    chmodSync(values.out, 0o600); // an existing file keeps its own mode through a write
  } else process.stdout.write(file);
  console.error(
    `✓ ${values.user}: grant id ${refresh.payload.gid} (--revoke-token it to cut this file and every refresh of it), until ${new Date(refresh.payload.exp * 1000).toISOString()}`,
  );
  console.error(`  ${values.out ? `written to ${values.out}; ` : ""}the user installs it as ${where} (with JULIA_PKG_SERVER=${url})`);
} else {
  const body = values.revoke !== undefined ? { user: values.revoke } : { jti: values["revoke-token"]! };
  const admin = await issueToken(key, "operator", "admin", 300);
  let res: Response;
  try {
    res = await fetch(`${url}/auth/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    refuse(`${url}/auth/revoke could not be reached: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = (await res.text()).trim();
  if (!res.ok) refuse(`${url}/auth/revoke answered ${res.status}: ${text.split("\n")[0]}`);
  const answer = JSON.parse(text) as { takes_effect_within_seconds?: number };
  console.log(`✓ revoked ${JSON.stringify(body)}: every isolate refuses it within ${answer.takes_effect_within_seconds ?? "?"} s`);
  // Tokens are stateless: pkgedge keeps no list of what it issued, so a mistyped name "succeeds".
  console.log(
    `  pkgedge keeps no list of issued ${"user" in body ? "users (names are case-sensitive)" : "ids"}: check it against the access log's auth_user`,
  );
}
