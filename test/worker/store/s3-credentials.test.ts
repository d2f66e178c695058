/** The S3 secrets: checked in one place (the configuration's secrets), for the worker's runtime and the coordinators' stores alike. */

import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, parseSecrets } from "../../../worker/config";
import { storeFor } from "../../../worker/store/factory";
import { S3_REFUSED, s3Credentials } from "../../../worker/store/s3-credentials";
import { S3Error } from "../../../worker/store/s3-error";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const both = { S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "secret" };

describe("the S3 secrets", () => {
  it("are the credentials when both are set", () => {
    expect(s3Credentials(both)).toEqual({ accessKeyId: "id", secretAccessKey: "secret" });
  });

  it("name each secret that is missing or empty", () => {
    const err = thrown(() => s3Credentials({ S3_SECRET_ACCESS_KEY: "" }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((e) => e.variable)).toEqual(["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]);
    expect((err as ConfigError).message).toMatch(/wrangler secret put S3_ACCESS_KEY_ID/);
  });

  it("are asked for only when STORAGE says s3, however it is spelled", () => {
    expect(parseSecrets({})).toEqual({});
    expect(parseSecrets({ STORAGE: "r2" })).toEqual({});
    expect((thrown(() => parseSecrets({ STORAGE: " S3 " })) as ConfigError).problems.map((e) => e.variable)).toEqual([
      "S3_ACCESS_KEY_ID",
      "S3_SECRET_ACCESS_KEY",
    ]);
    expect(parseSecrets({ ...both, STORAGE: "s3" })).toEqual({ s3AccessKeyId: "id", s3SecretAccessKey: "secret" });
  });

  it("stop a coordinator's store the same way, naming every missing secret", () => {
    const config = parseConfig({ STORAGE: "s3", S3_ENDPOINT: "http://127.0.0.1:9", S3_BUCKET: "pkgedge" });
    const err = thrown(() => storeFor({ S3_ACCESS_KEY_ID: "id" }, config));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("S3_SECRET_ACCESS_KEY");
  });

  it("are what a refusal by the bucket names", () => {
    expect(new S3Error(403, "SignatureDoesNotMatch", "HEAD k").refusal).toBe(S3_REFUSED);
    expect(S3_REFUSED.variables).toEqual(["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]);
    expect(new S3Error(500, "InternalError", "HEAD k").refusal).toBeNull();
  });
});
