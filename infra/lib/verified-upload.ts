/**
 * Putting an object into a bucket only once it has been checked, for the operator tools that fill
 * buckets without a worker (`infra:prefetch --to-bucket`, `infra:export`): the body is written to
 * a temporary file, a tarball's git tree hash is checked from that file by the rule pkgedge
 * applies to a fill, and only then is the file uploaded. Nothing that fails is ever written, so
 * nothing has to be deleted afterwards (and nothing the bucket held before is touched).
 */

import { describeFailure } from "./failure.ts";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Resource } from "../../worker/protocol/paths.ts";
import { verifyTarball, type VerifyLimits } from "./tarball.ts";

/** A private temporary directory, removed when the process exits. */
export function scratchDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a body to `file`; resolves to the bytes written. */
export async function spool(body: ReadableStream<Uint8Array>, file: string): Promise<number> {
  await pipeline(Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>), createWriteStream(file));
  return statSync(file).size;
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export interface Upload {
  s3: S3Client;
  bucket: string;
  key: string;
  /** The spooled body. */
  file: string;
  /** Checked as a tarball of this name before anything is sent; null for lists and bookkeeping. */
  resource: Resource | null;
  /** How the tarball is compressed: gzip, or a zstd variant (`<key>.tar.zst`). */
  encoding?: "gzip" | "zstd";
  /** How many bytes the source said it has, when it said (a short body is refused). */
  expectedBytes?: number;
  contentType?: string;
  metadata?: Record<string, string>;
  /** The body's sha256 (hex) it must have, when known (a binary mirror's copy records it). */
  sha256?: string;
  /** The verifier's limits: the worker's (workerVerifyLimits, read once when a tool starts). */
  limits: VerifyLimits;
}

/**
 * What became of an upload: stored, or not, and then whether the bytes were refused (else the
 * upload failed), and whether refused because they are wrong (`refuted`) rather than unchecked.
 */
export type Uploaded = { ok: true } | { ok: false; refused: boolean; refuted: boolean; reason: string };

/** Checks the spooled file, then uploads it; a failed check or upload is `{ ok: false }`, never a throw. */
export async function uploadVerified(upload: Upload): Promise<Uploaded> {
  const size = statSync(upload.file).size;
  if (upload.expectedBytes !== undefined && size !== upload.expectedBytes)
    return { ok: false, refused: true, refuted: false, reason: `the source sent ${size} bytes of ${upload.expectedBytes}` };
  if (upload.sha256 !== undefined) {
    const actual = await sha256OfFile(upload.file);
    if (actual !== upload.sha256.toLowerCase())
      return { ok: false, refused: true, refuted: true, reason: `sha256 ${actual} is not the ${upload.sha256} it was stored with` };
  }
  if (upload.resource) {
    const checked = await verifyTarball(upload.file, upload.resource, upload.limits, upload.encoding);
    if (!checked.ok) return { ok: false, refused: true, refuted: checked.refuted, reason: checked.reason };
  }
  try {
    await upload.s3.send(
      new PutObjectCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        Body: createReadStream(upload.file),
        ContentLength: size,
        ContentType: upload.contentType,
        Metadata: upload.metadata,
      }),
    );
  } catch (err) {
    return { ok: false, refused: false, refuted: false, reason: `upload failed: ${describeFailure(err)}` };
  }
  return { ok: true };
}
