/** `AUTH*`: the mode, the token lifetimes and the signing key a mode other than off needs. */

import { MIN_SIGNING_KEY_LENGTH } from "../auth/token";
import { Checker, ConfigError } from "./error";
import { choice, integer, textOr, type Vars } from "./kinds";
import type { AuthConfig } from "./types";

export function auth(vars: Vars): AuthConfig {
  const c = new Checker();
  const mode = c.check(() => choice(vars, "AUTH"));
  if (mode !== undefined && mode !== "off" && mode !== "external")
    c.check(() => {
      const key = vars.AUTH_SIGNING_KEY;
      if (typeof key !== "string" || key.length < MIN_SIGNING_KEY_LENGTH)
        throw new ConfigError(
          "AUTH_SIGNING_KEY",
          `AUTH=${mode} needs the secret AUTH_SIGNING_KEY, at least ${MIN_SIGNING_KEY_LENGTH} characters (wrangler secret put AUTH_SIGNING_KEY, or .dev.vars)`,
        );
    });
  const config: AuthConfig = {
    mode,
    accessTtlSeconds: c.check(() => integer(vars, "AUTH_ACCESS_TTL_SECONDS")),
    revocationTtlSeconds: c.check(() => integer(vars, "AUTH_REVOCATION_TTL_SECONDS")),
    help: textOr(vars, "AUTH_HELP") ?? null,
  };
  c.done();
  return config;
}
