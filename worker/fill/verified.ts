/**
 * The tree-hash check on a fill: the gzipped tarball streams through the verifier as it passes
 * the commit gate, and the commit rule decides at the end whether it may be stored under the name
 * it was requested by (spec §6.3.5, §7.4).
 */

import type { Resource } from "../routes/grammar";
import { createTarGzHasher } from "../verify/verify";
import { acceptTreeHash } from "../verify/rule";
import { BodyRejected, type BodyCheck } from "./gate";

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function treeHashCheck(resource: Resource, maxEntries?: number): BodyCheck {
  const hasher = createTarGzHasher({ maxEntries });
  const expected = resource.treeHash;
  return {
    update(chunk) {
      const reject = (err: unknown): never => {
        throw new BodyRejected(`not a valid gzipped tarball: ${message(err)}`, { expected });
      };
      try {
        return hasher.write(chunk)?.catch(reject);
      } catch (err) {
        return reject(err);
      }
    },
    async finish() {
      let hashes;
      try {
        hashes = await hasher.finish();
      } catch (err) {
        return { ok: false, reason: `not a valid gzipped tarball: ${message(err)}`, blame: "upstream", details: { expected } };
      }
      const details = { expected, noSkip: hashes.noSkip, skip: hashes.skip, entries: hashes.entries };
      const accepted = acceptTreeHash(resource.kind, expected, hashes);
      return accepted.ok ? { ok: true, details: { ...details, matched: accepted.matched } } : { ok: false, reason: accepted.reason, blame: "upstream", details };
    },
    abandon(reason) {
      hasher.abort(reason);
    },
  };
}
