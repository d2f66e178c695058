/**
 * The secrets an S3-compatible bucket is signed for, in one place: read from an isolate's own
 * environment (they never travel in a call), named when missing, and named when the bucket refuses them.
 */

import { ConfigError } from "../config";
import type { Refusal } from "./store";

const S3_SECRETS = ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const;

export type S3Secrets = { [name in (typeof S3_SECRETS)[number]]?: unknown };

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The credentials, or a ConfigError for each secret that is missing or empty. */
export function s3Credentials(env: S3Secrets): S3Credentials | ConfigError[] {
  const missing = S3_SECRETS.filter((name) => typeof env[name] !== "string" || env[name] === "").map(
    (name) => new ConfigError(name, `STORAGE=s3 needs the secret ${name} (wrangler secret put ${name}, or .dev.vars)`),
  );
  if (missing.length > 0) return missing;
  return { accessKeyId: env.S3_ACCESS_KEY_ID as string, secretAccessKey: env.S3_SECRET_ACCESS_KEY as string };
}

/** What a bucket that answers 401 or 403 refused: the secrets pkgedge signs with. */
export const S3_REFUSED: Refusal = {
  error: "the S3 bucket refused pkgedge's credentials",
  variables: S3_SECRETS,
};
