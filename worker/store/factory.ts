/** The bucket, as the one storage interface everything uses: the only place that knows which backend. */

import { ConfigError, type Config } from "../config";
import type { ObjectStore } from "./store";
import { R2Store } from "./r2";
import { S3Store } from "./s3";
import { s3Credentials } from "./s3-credentials";

/** What the factory reads from a worker's or coordinator's own environment: the binding or the secrets. */
export interface StoreBindings {
  BUCKET?: R2Bucket;
  S3_ACCESS_KEY_ID?: unknown;
  S3_SECRET_ACCESS_KEY?: unknown;
}

export function storeFor(env: StoreBindings, config: Config): ObjectStore {
  if (config.storage.kind === "s3") {
    // Secrets are read by each isolate from its own environment; they never travel in a call.
    const credentials = s3Credentials(env);
    const { endpoint, bucket, region, forcePathStyle } = config.storage;
    return new S3Store({
      endpoint,
      bucket,
      region,
      forcePathStyle,
      ...credentials,
      multipartPartBytes: config.multipartPartBytes,
      timeoutMs: config.s3TimeoutMs,
    });
  }
  const bucket = env.BUCKET;
  if (!bucket || typeof bucket.get !== "function") throw new ConfigError("BUCKET", "no R2 bucket is bound as BUCKET");
  return new R2Store(bucket, config);
}
