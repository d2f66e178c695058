/**
 * The checks on a fill's bytes beyond their length. A tarball streams through the tree-hash
 * verifier as it passes the commit gate, and the commit rule decides at the end whether it may be
 * stored under the name it was requested by (protocol.md §6.3.5, §7.4). A binary file is checked against
 * the sha256 and size its publisher lists; the list itself (versions.json) must be one pkgedge can read.
 */

import type { Resource } from "../protocol/paths";
import { createTarGzHasher, ExpansionRefused, type HashOptions } from "../verify/verify";
import { acceptTreeHash } from "../verify/rule";
import type { TreeHashes } from "../verify/tree";
import { indexVersions, type Published } from "../mirror/versions";
import { BodyRejected, type BodyCheck } from "./gate";

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why the verifier refused the bytes, with how far it had read (or what a bound measured). */
function refusal(err: unknown, expected: string, progress: { compressed: number; decompressed: number }): BodyRejected {
  if (err instanceof ExpansionRefused) {
    return new BodyRejected(`the archive ${err.message}`, { expected, compressed: err.compressed, decompressed: err.decompressed });
  }
  return new BodyRejected(`not a valid gzipped tarball: ${message(err)}`, { expected, ...progress });
}

/** `limits`: the verifier's bounds (entries, expansion) from the configuration. */
export function treeHashCheck(resource: Resource, limits: Omit<HashOptions, "sha1"> = {}): BodyCheck {
  const hasher = createTarGzHasher(limits);
  const expected = resource.treeHash;
  return {
    update(chunk) {
      const reject = (err: unknown): never => {
        throw refusal(err, expected, hasher.progress());
      };
      try {
        return hasher.write(chunk)?.catch(reject);
      } catch (err) {
        return reject(err);
      }
    },
    async finish() {
      let hashes: TreeHashes;
      try {
        hashes = await hasher.finish();
      } catch (err) {
        const refused = refusal(err, expected, hasher.progress());
        return { ok: false, reason: refused.reason, blame: "upstream", details: refused.details };
      }
      const details = { expected, noSkip: hashes.noSkip, skip: hashes.skip, entries: hashes.entries };
      const accepted = acceptTreeHash(resource.kind, expected, hashes);
      return accepted.ok
        ? { ok: true, details: { ...details, matched: accepted.matched } }
        : { ok: false, reason: accepted.reason, blame: "upstream", details };
    },
    abandon(reason) {
      hasher.abort(reason);
    },
  };
}

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The publisher's word on a binary file (versions.json): exactly `size` bytes whose SHA-256 is
 * `sha256`. The digest runs natively (workerd's DigestStream) as the bytes pass.
 */
export function publishedDigestCheck(published: Published): BodyCheck {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  // An abandoned body aborts the stream, which rejects these: that is reported by the verdict.
  digest.digest.catch(() => {});
  writer.closed.catch(() => {});
  let received = 0;
  const details = { expected_sha256: published.sha256, expected_size: published.size };
  return {
    async update(chunk) {
      received += chunk.byteLength;
      if (received > published.size) throw new BodyRejected("body longer than the size versions.json lists", { ...details, received });
      await writer.write(chunk);
    },
    async finish() {
      if (received !== published.size)
        return {
          ok: false,
          reason: "body shorter than the size versions.json lists",
          blame: "upstream",
          details: { ...details, received },
        };
      await writer.close();
      const sha256 = hex(await digest.digest);
      if (sha256 !== published.sha256)
        return { ok: false, reason: "sha256 differs from the one versions.json lists", blame: "upstream", details: { ...details, sha256 } };
      return { ok: true, details: { sha256 } };
    },
    abandon(reason) {
      void writer.abort(reason).catch(() => {});
    },
  };
}

/**
 * A new versions.json replaces the copy every check of the mirror's release files relies on: it is
 * kept only if it is at most `max` bytes and indexes as a versions.json, so an error page served
 * with 200, a truncated document or one too large to index leaves the previous copy in place.
 */
export function versionsDocumentCheck(max: number): BodyCheck {
  const decoder = new TextDecoder();
  let parts: string[] = [];
  let received = 0;
  return {
    update(chunk) {
      received += chunk.byteLength;
      if (received > max) throw new BodyRejected(`versions.json larger than ${max} bytes`, { received });
      parts.push(decoder.decode(chunk, { stream: true }));
    },
    async finish() {
      parts.push(decoder.decode());
      const text = parts.join("");
      parts = [];
      try {
        const files = indexVersions(text).size;
        return { ok: true, details: { files } };
      } catch (err) {
        return { ok: false, reason: `not a versions.json: ${message(err)}`, blame: "upstream" };
      }
    },
    abandon() {
      parts = [];
    },
  };
}
