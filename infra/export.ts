/**
 * `npm run infra:export -- --from-endpoint URL --from-bucket NAME --to-endpoint URL --to-bucket NAME`
 *   [--region auto] [--virtual-host] [--skip-existing]
 *
 * Copies every object of one mirror's bucket into another (any S3-compatible bucket; R2 through
 * its S3 endpoint), so an operator can seed a new mirror from an old one. Every object is read
 * into a temporary file first and every tarball checked there: its git tree hash must match the
 * name it is stored under (the rule pkgedge itself applies to fills). One that does not (or is not
 * gzip at all) is never written to the destination, and is reported; a file of a binary mirror
 * must match the sha256 its copy was stored with. Tarballs are checked with the worker's limits
 * (VERIFY_MAX_* and FILL_MAX_BYTES from the environment, else the worker's defaults): one past a
 * limit is not copied, and never counts against the destination's own copy. Copying a bucket onto
 * itself is refused.
 * Credentials: FROM_S3_ACCESS_KEY_ID / FROM_S3_SECRET_ACCESS_KEY and TO_S3_… (each falling back to
 * S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY). Exits non-zero if any object failed.
 */

import { describeFailure } from "./lib/failure.ts";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Resource } from "../worker/protocol/paths.ts";
import { storedTarball } from "../worker/variants/keys.ts";
import { parseCommand } from "./cli.ts";
import { bucketNameOf, endpointOf } from "./lib/validate.ts";
import { s3Client } from "./s3-client.ts";
import { verifyTarball, workerVerifyLimits, type VerifyLimits } from "./lib/tarball.ts";
import { scratchDirectory, spool, uploadVerified } from "./lib/verified-upload.ts";

function fail(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(1);
}

const { values } = parseCommand({
  usage:
    "npm run infra:export -- --from-endpoint URL --from-bucket NAME --to-endpoint URL --to-bucket NAME [--region R] [--virtual-host] [--skip-existing]",
  options: {
    "from-endpoint": { type: "string" },
    "from-bucket": { type: "string" },
    "to-endpoint": { type: "string" },
    "to-bucket": { type: "string" },
    region: { type: "string", default: "auto" },
    "virtual-host": { type: "boolean", default: false },
    "skip-existing": { type: "boolean", default: false },
  },
  help: [
    "--from-endpoint URL, --from-bucket NAME   the bucket to copy from",
    "--to-endpoint URL, --to-bucket NAME       the bucket to copy into",
    "--region R          the SigV4 region of both (default auto)",
    "--virtual-host      bucket.endpoint/key addressing",
    "--skip-existing     leave objects the destination already has",
  ],
  environment: [
    "FROM_S3_ACCESS_KEY_ID, FROM_S3_SECRET_ACCESS_KEY, TO_S3_ACCESS_KEY_ID, TO_S3_SECRET_ACCESS_KEY",
    "(each falls back to S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)",
    "VERIFY_MAX_ENTRIES, VERIFY_MAX_RATIO, VERIFY_MAX_DECOMPRESSED_BYTES, FILL_MAX_BYTES: the worker's verification limits",
    "(set them as the worker that filled the bucket has them; default the worker's defaults)",
  ],
  example:
    "npm run infra:export -- --from-endpoint https://s3.us-east-1.amazonaws.com --from-bucket old-mirror --to-endpoint https://<account>.r2.cloudflarestorage.com --to-bucket pkgedge --skip-existing",
});

function client(side: "from" | "to"): { s3: S3Client; bucket: string; endpoint: string } {
  const endpoint = values[`${side}-endpoint`];
  const bucket = values[`${side}-bucket`];
  if (!endpoint) fail(`--${side}-endpoint is required`);
  if (!bucket) fail(`--${side}-bucket is required`);
  const prefix = side.toUpperCase();
  const accessKeyId = process.env[`${prefix}_S3_ACCESS_KEY_ID`] ?? process.env.S3_ACCESS_KEY_ID;
  const secretAccessKey = process.env[`${prefix}_S3_SECRET_ACCESS_KEY`] ?? process.env.S3_SECRET_ACCESS_KEY;
  if (!accessKeyId) fail(`${prefix}_S3_ACCESS_KEY_ID (or S3_ACCESS_KEY_ID) is not set`);
  if (!secretAccessKey) fail(`${prefix}_S3_SECRET_ACCESS_KEY (or S3_SECRET_ACCESS_KEY) is not set`);
  endpointOf(`--${side}-endpoint`, endpoint);
  bucketNameOf(`--${side}-bucket`, bucket);
  const s3 = s3Client({ endpoint, bucket, region: values.region, virtualHost: values["virtual-host"], accessKeyId, secretAccessKey });
  return { s3, bucket, endpoint };
}

/** Where a bucket lives, spelled one way: scheme, host and port (lowercase, default ports dropped), path, bucket. */
function bucketIdentity(endpoint: string, bucket: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return fail(`${endpoint} is not a URL`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")} ${bucket}`;
}

const from = client("from");
const to = client("to");
// The same bucket on both sides would read each object while overwriting it: nothing to gain, everything to lose.
if (bucketIdentity(from.endpoint, from.bucket) === bucketIdentity(to.endpoint, to.bucket))
  fail(`--from and --to name the same bucket (${from.bucket} at ${from.endpoint}): refusing to copy a bucket onto itself`);
const scratch = scratchDirectory("pkgedge-export-");
let limits: VerifyLimits;
try {
  limits = workerVerifyLimits();
} catch (err) {
  fail(describeFailure(err));
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

const keys: { key: string; size: number }[] = [];
let token: string | undefined;
do {
  const page = await from.s3.send(new ListObjectsV2Command({ Bucket: from.bucket, ContinuationToken: token }));
  for (const o of page.Contents ?? []) if (o.Key) keys.push({ key: o.Key, size: o.Size ?? 0 });
  token = page.IsTruncated ? page.NextContinuationToken : undefined;
} while (token);

const total = keys.reduce((n, k) => n + k.size, 0);
let done = 0;
let bytes = 0;
const failed: string[] = [];
let skipped = 0;
const progress = () => {
  const line = `[${done}/${keys.length}] ${(bytes / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}`);
};

/**
 * After the source's copy of a tarball was refuted: the destination's own copy, if it has one (an
 * earlier copy may have stored anything), is checked too, by the worker's limits. A good one is
 * kept; one whose bytes refute its name is removed, or the mirror would serve it as a hit forever
 * (removed, it is filled from upstream). Removed only then, and only if it is still the copy that
 * was checked (If-Match on its ETag), so a good copy written meanwhile stays; one that could not
 * be read whole or checked (a limit, a local failure) is kept.
 */
async function checkDestination(key: string, resource: Resource, encoding: "gzip" | "zstd"): Promise<string> {
  const file = join(scratch, "destination");
  try {
    const got = await to.s3.send(new GetObjectCommand({ Bucket: to.bucket, Key: key })).catch((err: unknown) => {
      // Only "not there" means there is nothing to check; any other answer is reported.
      if (statusOf(err) === 404) return null;
      throw err;
    });
    if (!got) return "";
    const size = await spool(got.Body!.transformToWebStream() as ReadableStream<Uint8Array>, file);
    if (got.ContentLength !== undefined && size !== got.ContentLength)
      return `; the destination's own copy could not be read whole (${size} of ${got.ContentLength} bytes) and is kept`;
    const checked = await verifyTarball(file, resource, limits, encoding);
    if (checked.ok) return "; the destination's own copy verifies and is kept";
    if (!checked.refuted) return `; the destination's own copy could not be checked (${checked.reason}) and is kept`;
    if (!got.ETag) return `; the destination's own copy did not verify either (${checked.reason}) but has no ETag to remove it by: kept`;
    try {
      await to.s3.send(new DeleteObjectCommand({ Bucket: to.bucket, Key: key, IfMatch: got.ETag }));
    } catch (err) {
      if (statusOf(err) === 412) return `; the destination's own copy did not verify either (${checked.reason}) but changed since: kept`;
      return `; the destination's own copy did not verify either (${checked.reason}) and could not be removed: ${describeFailure(err)}`;
    }
    return `; the destination's own copy did not verify either (${checked.reason}) and was removed`;
  } catch (err) {
    return `; the destination's own copy could not be checked: ${describeFailure(err)}`;
  } finally {
    rmSync(file, { force: true });
  }
}

/** One object: read into a temporary file, checked if it is a tarball, and only then uploaded. */
async function copyOne(key: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  const file = join(scratch, "object");
  const stored = storedTarball(key);
  const resource = stored?.resource ?? null;
  try {
    const got = await from.s3.send(new GetObjectCommand({ Bucket: from.bucket, Key: key }));
    await spool(got.Body!.transformToWebStream() as ReadableStream<Uint8Array>, file);
    const copied = await uploadVerified({
      s3: to.s3,
      bucket: to.bucket,
      key,
      file,
      resource,
      encoding: stored?.encoding,
      expectedBytes: got.ContentLength,
      contentType: got.ContentType,
      metadata: got.Metadata,
      // A binary mirror's copy records the sha256 versions.json lists for it (the worker's COPY_META.sha256).
      sha256: got.Metadata?.sha256,
      limits,
    });
    if (copied.ok || !copied.refuted || !resource) return copied;
    return { ok: false, reason: copied.reason + (await checkDestination(key, resource, stored!.encoding)) };
  } catch (err) {
    return { ok: false, reason: `could not be read: ${describeFailure(err)}` };
  } finally {
    rmSync(file, { force: true });
  }
}

for (const { key, size } of keys) {
  if (values["skip-existing"]) {
    const existing = await to.s3.send(new HeadObjectCommand({ Bucket: to.bucket, Key: key })).catch(() => null);
    if (existing?.ContentLength === size) {
      skipped++;
      done++;
      bytes += size;
      progress();
      continue;
    }
  }
  const copied = await copyOne(key);
  if (!copied.ok) failed.push(`${key}: ${copied.reason}`);
  done++;
  bytes += size;
  progress();
}
if (process.stdout.isTTY) process.stdout.write("\n");
console.log(
  `copied ${keys.length - failed.length - skipped} objects (${(total / 1e6).toFixed(1)} MB listed), skipped ${skipped} already there, ${failed.length} failed`,
);
for (const f of failed) console.log(`✗ ${f}`);
process.exit(failed.length > 0 ? 1 : 0);
