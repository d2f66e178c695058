/**
 * Verifying a tarball in Node, for the operator tools, the benchmarks and the tests: the worker's
 * own verifier and commit rule, with Node's SHA-1 and the worker's limits. The verdict tells a
 * tarball that is wrong (its bytes refute the name) from one this check could not decide (a limit
 * was reached, or reading failed here): only the first is grounds to remove a stored copy.
 */

import { describeFailure } from "./failure.ts";
import { createHash } from "node:crypto";
import { openAsBlob } from "node:fs";
import { VARIABLES } from "../../worker/config/table.ts";
import type { Resource } from "../../worker/protocol/paths.ts";
import { acceptTreeHash } from "../../worker/verify/rule.ts";
import { TooManyEntries } from "../../worker/verify/tree.ts";
import {
  ExpansionRefused,
  TarError,
  treeHashOfTarGz,
  type HashOptions,
  type StreamingSha1,
  type TreeHashes,
} from "../../worker/verify/verify.ts";
import { treeHashOfTarZst, ZstdRefused } from "../../worker/verify/zstd.ts";

/** Node's incremental SHA-1 for the verifier (workerd has crypto.DigestStream, Node does not). */
export const nodeSha1 = (): StreamingSha1 => {
  const h = createHash("sha1");
  return { update: (b: Uint8Array) => void h.update(b), digest: async () => new Uint8Array(h.digest()) };
};

export type VerifyLimits = Required<Pick<HashOptions, "maxEntries" | "maxRatio" | "maxDecompressedBytes">> & {
  /** zstd frames needing a larger window are not decoded (ZSTD_MAX_WINDOW_BYTES). */
  maxWindowBytes: number;
};

type LimitName = "FILL_MAX_BYTES" | "VERIFY_MAX_ENTRIES" | "VERIFY_MAX_RATIO" | "VERIFY_MAX_DECOMPRESSED_BYTES" | "ZSTD_MAX_WINDOW_BYTES";

/** Read as the worker reads it: trimmed, blank meaning unset, a whole number within the table's bounds. */
function limit(env: NodeJS.ProcessEnv, name: LimitName, fallback: number): number {
  const { min, max } = VARIABLES[name];
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(env[name])}`);
  }
  return Number(raw);
}

/**
 * The limits the worker verifies fills with: its defaults (worker/config/table.ts), each replaced by
 * the variable of the same name in `env`, so an operator checks a bucket by the rules of the worker
 * that filled it (set VERIFY_MAX_ENTRIES etc. as in its wrangler.toml).
 */
export function workerVerifyLimits(env: NodeJS.ProcessEnv = process.env): VerifyLimits {
  const fillMaxBytes = limit(env, "FILL_MAX_BYTES", VARIABLES.FILL_MAX_BYTES.default);
  return {
    maxEntries: limit(env, "VERIFY_MAX_ENTRIES", VARIABLES.VERIFY_MAX_ENTRIES.default),
    maxRatio: limit(env, "VERIFY_MAX_RATIO", VARIABLES.VERIFY_MAX_RATIO.default),
    maxDecompressedBytes: limit(env, "VERIFY_MAX_DECOMPRESSED_BYTES", 2 * fillMaxBytes),
    maxWindowBytes: limit(env, "ZSTD_MAX_WINDOW_BYTES", VARIABLES.ZSTD_MAX_WINDOW_BYTES.default),
  };
}

/**
 * What a check found. `refuted`: the bytes are not a tarball of this name (tree hash mismatch, not
 * gzip, not tar). `undecided`: no verdict on the bytes (a limit was reached, or a local failure).
 */
export type Verdict = { ok: true } | { ok: false; refuted: boolean; reason: string; hashes?: TreeHashes };

/** Errors that are about the bytes themselves: a malformed tar stream, or a malformed gzip or zstd stream. */
function refutes(err: unknown): boolean {
  if (err instanceof TooManyEntries || err instanceof ExpansionRefused) return false;
  // A window over the bound is this check's limit, not a fault of the bytes.
  if (err instanceof ZstdRefused) return err.reason !== "window" && err.reason !== "unsupported";
  if (err instanceof TarError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") return true;
  if (typeof code === "string" && code.startsWith("ZSTD_error_")) return code !== "ZSTD_error_frameParameter_windowTooLarge";
  return err instanceof Error && /after the end of the gzip stream/.test(err.message);
}

/**
 * Checks a gzipped tarball, or with `encoding` "zstd" a zstd variant (a stream, or a file on disk),
 * against the name it is stored under, by the rule pkgedge applies to a fill. Never rejects.
 */
export async function verifyTarball(
  body: ReadableStream<Uint8Array> | string,
  resource: Resource,
  limits: VerifyLimits,
  encoding: "gzip" | "zstd" = "gzip",
): Promise<Verdict> {
  let hashes: TreeHashes;
  try {
    const stream = typeof body === "string" ? (await openAsBlob(body)).stream() : body;
    const options = { sha1: nodeSha1, ...limits };
    hashes = encoding === "zstd" ? await treeHashOfTarZst(stream, options) : await treeHashOfTarGz(stream, options);
  } catch (err) {
    if (refutes(err))
      return {
        ok: false,
        refuted: true,
        reason: `not a valid ${encoding === "zstd" ? "zstd" : "gzipped"} tarball: ${describeFailure(err)}`,
      };
    return { ok: false, refuted: false, reason: `could not be verified here: ${describeFailure(err)}` };
  }
  const verdict = acceptTreeHash(resource.kind, resource.treeHash, hashes);
  if (verdict.ok) return { ok: true };
  return { ok: false, refuted: true, reason: verdict.reason, hashes };
}
