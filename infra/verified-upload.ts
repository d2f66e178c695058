/**
 * Putting an object into a bucket only once it has been checked, for the operator tools that fill
 * buckets without a worker (`infra:prefetch --to-bucket`, `infra:export`): the body is written to
 * a temporary file, a tarball's git tree hash is checked from that file by the rule pkgedge
 * applies to a fill, and only then is the file uploaded. Nothing that fails is ever written, so
 * nothing has to be deleted afterwards (and nothing the bucket held before is touched).
 */

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, openAsBlob, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Resource } from "../worker/protocol/paths.ts";
import { acceptTreeHash } from "../worker/verify/rule.ts";
import { treeHashOfTarGz } from "../worker/verify/verify.ts";

/** A check's answer. Read `ok`, never the reason: some failures (Node's gunzip) come without a message. */
export type Checked = { ok: true } | { ok: false; reason: string };

/** An error in words that are never empty: Node's DecompressionStream rejects with an empty message and only a code. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err) || "failed (no reason given)";
  const code = (err as { code?: unknown }).code;
  const words = err.message || err.name || "Error";
  return typeof code === "string" && !words.includes(code) ? `${words} (${code})` : words;
}

/** Node's incremental SHA-1 for the verifier (workerd has crypto.DigestStream, Node does not). */
export const nodeSha1 = () => {
  const h = createHash("sha1");
  return { update: (b: Uint8Array) => void h.update(b), digest: async () => new Uint8Array(h.digest()) };
};

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

/**
 * Checks a tarball on disk against the name it is to be stored under. Never rejects: a body that is
 * not gzip at all (empty, an HTML error page) is `{ ok: false }` like a tree hash mismatch.
 */
export async function checkTarballFile(file: string, resource: Resource): Promise<Checked> {
  let hashes: Awaited<ReturnType<typeof treeHashOfTarGz>>;
  try {
    hashes = await treeHashOfTarGz((await openAsBlob(file)).stream(), { sha1: nodeSha1 });
  } catch (err) {
    return { ok: false, reason: `not a valid gzipped tarball: ${describeError(err)}` };
  }
  const verdict = acceptTreeHash(resource.kind, resource.treeHash, hashes);
  return verdict.ok ? { ok: true } : { ok: false, reason: verdict.reason };
}

export interface Upload {
  s3: S3Client;
  bucket: string;
  key: string;
  /** The spooled body. */
  file: string;
  /** Checked as a tarball of this name before anything is sent; null for lists and bookkeeping. */
  resource: Resource | null;
  /** How many bytes the source said it has, when it said (a short body is refused). */
  expectedBytes?: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** What became of an upload: stored, or not, and then whether the bytes were refused (else the upload failed). */
export type Uploaded = { ok: true } | { ok: false; refused: boolean; reason: string };

/** Checks the spooled file, then uploads it; a failed check or upload is `{ ok: false }`, never a throw. */
export async function uploadVerified(upload: Upload): Promise<Uploaded> {
  const size = statSync(upload.file).size;
  if (upload.expectedBytes !== undefined && size !== upload.expectedBytes)
    return { ok: false, refused: true, reason: `the source sent ${size} bytes of ${upload.expectedBytes}` };
  if (upload.resource) {
    const checked = await checkTarballFile(upload.file, upload.resource);
    if (!checked.ok) return { ok: false, refused: true, reason: checked.reason };
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
    return { ok: false, refused: false, reason: `upload failed: ${describeError(err)}` };
  }
  return { ok: true };
}
