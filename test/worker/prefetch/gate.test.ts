/**
 * The conservative gate's walk back through the ledgers of the snapshots eager published in
 * between (real ledger Durable Objects, the real bucket): how far it goes before it has the
 * difference planned directly instead.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { heldBack, MAX_GATE_CHAIN, type GateDeps } from "../../../worker/prefetch/gate";
import type { RegistryRef } from "../../../worker/protocol/paths";
import { bucket, manifest } from "../harness";

const hash = (run: string, i: number) => `${run}${i.toString(16).padStart(8, "0")}`.padEnd(40, "0");

/** The gate's view of prefetching: real ledgers (named per test run), plan requests recorded. */
function deps(): GateDeps & { requested: { ref: RegistryRef; base: string | null; since: boolean }[] } {
  const requested: { ref: RegistryRef; base: string | null; since: boolean }[] = [];
  const ns = env.PREFETCH_LEDGERS!;
  return {
    mode: "packages",
    requested,
    ledger: (ref, since) => ns.get(ns.idFromName(`${ref.uuid}/${ref.treeHash}${since ? ` since ${since}` : ""}`)),
    async snapshotSeen(ref, base, since = false) {
      requested.push({ ref, base, since });
    },
    async queueArtifacts() {},
  };
}

/** Snapshots 0…n, each planned (nothing to fill) against the one before. */
async function chain(d: GateDeps, run: string, n: number): Promise<RegistryRef[]> {
  const refs = Array.from({ length: n + 1 }, (_, i) => ({ uuid: manifest.registryUuid, treeHash: hash(run, i) }));
  for (let i = 1; i <= n; i++) await d.ledger(refs[i]!).plan(refs[i - 1]!.treeHash, [], null);
  return refs;
}

describe("the gate over the snapshots eager published in between", () => {
  it(`counts the ledgers of up to ${MAX_GATE_CHAIN} snapshots back to conservative's`, async () => {
    const d = deps();
    const refs = await chain(d, "a1", MAX_GATE_CHAIN);
    expect(await heldBack(d, refs.at(-1)!, refs[0]!.treeHash, bucket())).toBeNull();
    expect(d.requested).toEqual([]);
  });

  it("has the difference planned directly when the chain is longer", async () => {
    const d = deps();
    const refs = await chain(d, "b2", MAX_GATE_CHAIN + 1);
    const reason = await heldBack(d, refs.at(-1)!, refs[0]!.treeHash, bucket());
    expect(reason).toMatch(/listing what it adds over/);
    expect(d.requested).toEqual([{ ref: refs.at(-1), base: refs[0]!.treeHash, since: true }]);
  });

  it("holds back while any ledger in between has an item pending", async () => {
    const d = deps();
    const refs = await chain(d, "c3", 3);
    await d.ledger(refs[2]!).add("package/x", [{ key: `artifact/${hash("c5", 1)}`, kind: "artifact", label: "a" }], 10, 0);
    expect(await heldBack(d, refs[3]!, refs[0]!.treeHash, bucket())).toMatch(/0 of 1 in the bucket \(over 3 snapshots\)/);
  });
});
