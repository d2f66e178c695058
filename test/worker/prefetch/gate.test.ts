/**
 * The conservative gate's walk back through the ledgers of the snapshots eager published in
 * between (real ledger Durable Objects, the real bucket): how far it goes before it has the
 * difference planned directly instead.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { heldBack, MAX_GATE_CHAIN, type GateDeps } from "../../../worker/prefetch/gate";
import type { RegistryRef } from "../../../worker/protocol/paths";
import { bucket, manifest, putObject } from "../harness";

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

describe("the gate when the queue refuses a send", () => {
  const refused = async () => {
    throw new Error("Queue send failed: the queue is unavailable");
  };

  it("holds back that candidate, saying why, instead of failing the round", async () => {
    const d = { ...deps(), snapshotSeen: refused };
    const refs = await chain(d, "d4", 1);
    const candidate = { uuid: manifest.registryUuid, treeHash: hash("d4", 9) };
    // Its own plan is not requested yet: the request is what the queue refuses.
    const reason = await heldBack(d, candidate, refs[1]!.treeHash, bucket());
    expect(reason).toMatch(/^prefetching: .*the queue is unavailable/);
  });

  it("leaves a failed package found in the bucket failed when its artifacts cannot be queued, and holds back", async () => {
    const d = { ...deps(), mode: "all" as const, queueArtifacts: refused };
    const refs = await chain(d, "e5", 1);
    const found = `package/${manifest.registryUuid}/${hash("e5", 7)}`;
    await d.ledger(refs[1]!).add("package/seed", [{ key: found, kind: "package", label: "Found@1.0.0" }], 10, 0);
    await d.ledger(refs[1]!).settle(found, "failed", "no upstream has it");
    await putObject(found, new Uint8Array([1, 2, 3]));
    expect(await heldBack(d, refs[1]!, refs[0]!.treeHash, bucket())).toMatch(/1 failed/);
    expect(await d.ledger(refs[1]!).progress()).toMatchObject({ failed: 1, done: 0 });
  });
});

describe("the gate with nothing published for conservative clients", () => {
  it("judges the ledgers it can follow when the chain back breaks, rather than waiting for a plan that cannot come", async () => {
    // Snapshot 0's ledger is gone (expired, never planned): with no base there is no difference to
    // plan directly, so asking for one would wait forever.
    const d = deps();
    const refs = await chain(d, "f6", 3);
    expect(await heldBack(d, refs[3]!, null, bucket())).toBeNull();
    expect(d.requested).toEqual([]);
    await d.ledger(refs[2]!).add("package/x", [{ key: `artifact/${hash("f7", 1)}`, kind: "artifact", label: "a" }], 10, 0);
    expect(await heldBack(d, refs[3]!, null, bucket())).toMatch(/0 of 1 in the bucket \(over 3 snapshots\)/);
  });

  it(`judges the first ${MAX_GATE_CHAIN} ledgers of a longer chain`, async () => {
    const d = deps();
    const refs = await chain(d, "a8", MAX_GATE_CHAIN + 2);
    expect(await heldBack(d, refs.at(-1)!, null, bucket())).toBeNull();
    expect(d.requested).toEqual([]);
  });
});
