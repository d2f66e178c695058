/** The configuration in effect, for the first log line of an isolate: what an operator checks first. */

import { secretsSet } from "./secrets";
import type { Secrets } from "./table";
import type { Config } from "./types";

/** Never a secret's value: only whether each is set. */
export function configSummary(c: Config, secrets: Secrets, analyticsBound: boolean): Record<string, unknown> {
  return {
    upstreams: c.upstreams,
    storage:
      c.storage.kind === "r2"
        ? { kind: "r2", binding: "BUCKET" }
        : { kind: "s3", endpoint: c.storage.endpoint, bucket: c.storage.bucket, region: c.storage.region },
    registries: c.registries.map((r) => ({ uuid: r.uuid, origin: r.originTemplate ?? null, history: r.historyUrl ?? null })),
    binary_mirrors: c.binaryMirrors.map((m) => `${m.name}=${m.base}`),
    path_prefix: c.pathPrefix || "/",
    stored_redirect_base: c.storedRedirectBase,
    ttl_seconds: {
      registry: c.registryTtlSeconds,
      negative: c.negativeTtlSeconds,
      failure: c.failureTtlSeconds,
      binary_mirror: c.binaryMirrorTtlSeconds,
    },
    analytics: analyticsBound,
    prefetch: c.prefetch.offBecause ? `off: ${c.prefetch.offBecause}` : c.prefetch.mode,
    auth: c.auth.mode,
    secrets_set: secretsSet(secrets),
  };
}
