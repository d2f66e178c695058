/** The secrets, read in one place from the table's `secret` rows: what is set, never shown anywhere. */

import { ConfigError } from "./error";
import type { Vars } from "./kinds";
import { VARIABLES, type SecretName, type Secrets } from "./table";

const SECRET_NAMES = (Object.keys(VARIABLES) as (keyof typeof VARIABLES)[]).filter(
  (name): name is SecretName => VARIABLES[name].kind === "secret",
);

/** The secrets an S3-compatible bucket is signed with, named as a refusal by the bucket names them. */
export const S3_SECRETS = ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const;

/** Every secret that is set (an empty value is not set), by its field; missing ones STORAGE=s3 needs are errors. */
export function parseSecrets(vars: Vars): Secrets {
  const secrets: Record<string, string> = {};
  for (const name of SECRET_NAMES) {
    const value = vars[name];
    if (typeof value === "string" && value !== "") secrets[VARIABLES[name].field] = value;
  }
  // Checked even when the other variables are not fine, so every problem is named at once.
  if (typeof vars.STORAGE === "string" && vars.STORAGE.trim().toLowerCase() === "s3") {
    const missing = missingS3Secrets(secrets as Secrets);
    if (missing.length > 0) throw ConfigError.all(missing);
  }
  return secrets as Secrets;
}

/** The secrets an S3-compatible bucket is signed with: a ConfigError naming each one not set. */
export function missingS3Secrets(secrets: Secrets): ConfigError[] {
  return S3_SECRETS.filter((name) => secrets[VARIABLES[name].field] === undefined).map(
    (name) => new ConfigError(name, `STORAGE=s3 needs the secret ${name} (wrangler secret put ${name}, or .dev.vars)`),
  );
}

/** Which secrets are set, by lowercased name, for the log and /meta: never a value. */
export function secretsSet(secrets: Secrets): Record<string, boolean> {
  return Object.fromEntries(
    SECRET_NAMES.map((name) => [name.toLowerCase(), (secrets as Record<string, string | undefined>)[VARIABLES[name].field] !== undefined]),
  );
}
