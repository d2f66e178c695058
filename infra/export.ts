/**
 * `npm run infra:export -- --from-endpoint URL --from-bucket NAME --to-endpoint URL --to-bucket NAME`
 *   [--region auto] [--virtual-host] [--skip-existing]
 *
 * Copies every object of one mirror's bucket into another (any S3-compatible bucket; R2 through
 * its S3 endpoint), so an operator can seed a new mirror from an old one. Every tarball is
 * checked on the way: its git tree hash must match the name it is stored under (the rule pkgedge
 * itself applies to fills), and one that does not is removed from the destination and reported.
 * Credentials: FROM_S3_ACCESS_KEY_ID / FROM_S3_SECRET_ACCESS_KEY and TO_S3_… (each falling back to
 * S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY). Exits non-zero if any object failed.
 */

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { parseResourcePath } from "../worker/protocol/paths.ts";
import { acceptTreeHash } from "../worker/verify/rule.ts";
import { treeHashOfTarGz } from "../worker/verify/verify.ts";
import { parseCommand } from "./cli.ts";
import { s3Client } from "./s3-client.ts";

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
  ],
  example:
    "npm run infra:export -- --from-endpoint https://s3.us-east-1.amazonaws.com --from-bucket old-mirror --to-endpoint https://<account>.r2.cloudflarestorage.com --to-bucket pkgedge --skip-existing",
});

function client(side: "from" | "to"): { s3: S3Client; bucket: string } {
  const endpoint = values[`${side}-endpoint`];
  const bucket = values[`${side}-bucket`];
  if (!endpoint) fail(`--${side}-endpoint is required`);
  if (!bucket) fail(`--${side}-bucket is required`);
  const prefix = side.toUpperCase();
  const accessKeyId = process.env[`${prefix}_S3_ACCESS_KEY_ID`] ?? process.env.S3_ACCESS_KEY_ID;
  const secretAccessKey = process.env[`${prefix}_S3_SECRET_ACCESS_KEY`] ?? process.env.S3_SECRET_ACCESS_KEY;
  if (!accessKeyId) fail(`${prefix}_S3_ACCESS_KEY_ID (or S3_ACCESS_KEY_ID) is not set`);
  if (!secretAccessKey) fail(`${prefix}_S3_SECRET_ACCESS_KEY (or S3_SECRET_ACCESS_KEY) is not set`);
  const s3 = s3Client({ endpoint, bucket, region: values.region, virtualHost: values["virtual-host"], accessKeyId, secretAccessKey });
  return { s3, bucket };
}

/** Node's incremental SHA-1 for the verifier (workerd has crypto.DigestStream, Node does not). */
const nodeSha1 = () => {
  const h = createHash("sha1");
  return { update: (b: Uint8Array) => void h.update(b), digest: async () => new Uint8Array(h.digest()) };
};

const from = client("from");
const to = client("to");

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
  const got = await from.s3.send(new GetObjectCommand({ Bucket: from.bucket, Key: key }));
  const body = got.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
  const resource = parseResourcePath("/" + key);
  // Tarballs are checked while they are copied; lists and bookkeeping are copied as they are.
  const [forUpload, forCheck] = resource ? body.tee() : [body, null];
  const upload = to.s3.send(
    new PutObjectCommand({
      Bucket: to.bucket,
      Key: key,
      Body: Readable.fromWeb(forUpload as import("node:stream/web").ReadableStream<Uint8Array>),
      ContentLength: size,
      ContentType: got.ContentType,
      Metadata: got.Metadata,
    }),
  );
  const verdict = forCheck
    ? treeHashOfTarGz(forCheck, { sha1: nodeSha1 }).then(
        (hashes) => acceptTreeHash(resource!.kind, resource!.treeHash, hashes),
        (err: unknown) => ({ ok: false as const, reason: err instanceof Error ? err.message : String(err) }),
      )
    : Promise.resolve({ ok: true as const });
  const [uploaded, checked] = await Promise.allSettled([upload, verdict]);
  const problem =
    uploaded.status === "rejected"
      ? `upload failed: ${String(uploaded.reason)}`
      : checked.status === "fulfilled" && !checked.value.ok
        ? checked.value.reason
        : null;
  if (problem) {
    failed.push(`${key}: ${problem}`);
    await to.s3.send(new DeleteObjectCommand({ Bucket: to.bucket, Key: key })).catch(() => {});
  }
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
