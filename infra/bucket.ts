/**
 * `npm run infra:bucket -- --endpoint URL --bucket NAME [--region R] [--virtual-host] [--create]`
 *
 * Creates (with --create) or validates the S3-compatible bucket a pkgedge mirror uses as its cache:
 * that it exists, that pkgedge's credentials can write, read and delete in it, whether it honours
 * conditional writes (registry lists are published with them), and that incomplete multipart
 * uploads (fills abandoned mid-way) are cleaned up by a lifecycle rule. Credentials come from
 * S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, the same secrets the worker uses.
 */

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type LifecycleRule,
} from "@aws-sdk/client-s3";
import { parseCommand } from "./cli.ts";
import { describeFailure } from "./lib/failure.ts";
import { bucketNameOf, endpointOf } from "./lib/validate.ts";
import { s3Client } from "./s3-client.ts";

const RULE_ID = "pkgedge-abort-incomplete-multipart";

function fail(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(1);
}

const { values } = parseCommand({
  usage: "npm run infra:bucket -- --endpoint URL --bucket NAME [--region R] [--virtual-host] [--create]",
  options: {
    endpoint: { type: "string" },
    bucket: { type: "string" },
    region: { type: "string", default: "auto" },
    "virtual-host": { type: "boolean", default: false },
    create: { type: "boolean", default: false },
  },
  help: [
    "--endpoint URL   the bucket's S3 endpoint (the S3_ENDPOINT the worker uses)",
    "--bucket NAME    the bucket (S3_BUCKET)",
    "--region R       the SigV4 region (default auto)",
    "--virtual-host   bucket.endpoint/key addressing instead of endpoint/bucket/key",
    "--create         create the bucket if it is missing",
  ],
  environment: ["S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY   the credentials the worker uses"],
  example:
    "S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… npm run infra:bucket -- --endpoint https://<account>.r2.cloudflarestorage.com --bucket pkgedge --create",
});
if (!values.endpoint) fail("--endpoint is required (the S3_ENDPOINT the worker uses)");
if (!values.bucket) fail("--bucket is required (the S3_BUCKET the worker uses)");
const accessKeyId = process.env.S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.S3_SECRET_ACCESS_KEY;
if (!accessKeyId) fail("S3_ACCESS_KEY_ID is not set");
if (!secretAccessKey) fail("S3_SECRET_ACCESS_KEY is not set");

const Bucket = bucketNameOf("--bucket", values.bucket);
const s3 = s3Client({
  endpoint: endpointOf("--endpoint", values.endpoint),
  bucket: Bucket,
  region: values.region,
  virtualHost: values["virtual-host"],
  accessKeyId,
  secretAccessKey,
});

let caveats = 0;
/** Something that works, but not as well as it should: said, and counted in the last line. */
function caveat(what: string): void {
  caveats++;
  console.log(`! ${what}`);
}

// 1. The bucket exists (or is created).
try {
  await s3.send(new HeadBucketCommand({ Bucket }));
  console.log(`✓ bucket ${Bucket} exists`);
} catch (err) {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === 403)
    fail(`the bucket refused these credentials (${describeFailure(err, Bucket)}): check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY`);
  if (status !== 404) fail(`could not reach bucket ${Bucket}: ${describeFailure(err, Bucket)}`);
  if (!values.create) fail(`bucket ${Bucket} does not exist (run again with --create to create it)`);
  try {
    await s3.send(new CreateBucketCommand({ Bucket }));
  } catch (createErr) {
    fail(`could not create bucket ${Bucket}: ${describeFailure(createErr, Bucket)}`);
  }
  console.log(`✓ bucket ${Bucket} created`);
}

// 2. Write, read back, delete: what every fill and hit does.
const probeKey = `_pkgedge/probe-${crypto.randomUUID()}`;
const probe = `pkgedge bucket probe ${new Date().toISOString()}`;
try {
  await s3.send(new PutObjectCommand({ Bucket, Key: probeKey, Body: probe, ContentType: "text/plain" }));
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: probeKey }));
  const text = await got.Body?.transformToString();
  if (text !== probe) fail(`read back ${JSON.stringify(text)} instead of what was written`);
} catch (err) {
  fail(`the write/read probe failed: ${describeFailure(err, Bucket)}`);
}

// 3. Conditional writes: a second "only if absent" write of the same key must be refused.
let conditional = false;
try {
  await s3.send(new PutObjectCommand({ Bucket, Key: probeKey, Body: "again", IfNoneMatch: "*" }));
} catch (err) {
  conditional = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412;
}
await s3
  .send(new DeleteObjectCommand({ Bucket, Key: probeKey }))
  .catch((err) => fail(`could not delete the probe: ${describeFailure(err, Bucket)}`));
console.log("✓ write, read and delete work");
if (conditional) console.log("✓ conditional writes are honoured (registry lists are published in order)");
else caveat("conditional writes are NOT honoured: concurrent registry refreshes may publish out of order on this server");

// 4. A lifecycle rule that aborts multipart uploads left incomplete (abandoned fills).
try {
  let rules: LifecycleRule[] = [];
  try {
    rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? [];
  } catch {
    rules = []; // no configuration yet
  }
  if (rules.some((r) => r.ID === RULE_ID)) {
    console.log("✓ the abort-incomplete-multipart lifecycle rule is in place");
  } else {
    const ours: LifecycleRule = {
      ID: RULE_ID,
      Status: "Enabled",
      Filter: { Prefix: "" },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    };
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: [...rules, ours] } }));
    console.log("✓ added a lifecycle rule that aborts multipart uploads left incomplete for a day");
  }
} catch (err) {
  caveat(
    `could not set the abort-incomplete-multipart lifecycle rule (${describeFailure(err, Bucket)}): set one by hand if this server supports it`,
  );
}
console.log(
  caveats === 0
    ? `bucket ${Bucket} is ready for pkgedge`
    : `bucket ${Bucket} is ready for pkgedge, with ${caveats} caveat${caveats > 1 ? "s" : ""} (! above)`,
);
