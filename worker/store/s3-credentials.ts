/**
 * The secrets an S3-compatible bucket is signed with, read by each isolate from its own environment
 * (they never travel in a call), and named when the bucket refuses them. Which are missing is
 * decided once, by the configuration's secrets (config/secrets.ts).
 */

import { ConfigError, missingS3Secrets, parseSecrets, S3_SECRETS } from "../config";
import type { Refusal } from "./store";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The credentials from an environment, or a ConfigError naming every secret that is missing or empty. */
export function s3Credentials(env: object): S3Credentials {
  const secrets = parseSecrets({ ...env, STORAGE: undefined });
  const missing = missingS3Secrets(secrets);
  if (missing.length > 0) throw ConfigError.all(missing);
  return { accessKeyId: secrets.s3AccessKeyId!, secretAccessKey: secrets.s3SecretAccessKey! };
}

/** What a bucket that answers 401 or 403 refused: the secrets pkgedge signs with. */
export const S3_REFUSED: Refusal = {
  error: "the S3 bucket refused pkgedge's credentials",
  variables: S3_SECRETS,
};
