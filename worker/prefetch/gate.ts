/**
 * The gate for /registries.conservative (PREFETCH_GATE): a snapshot is published for conservative
 * clients only once everything it adds over the snapshot they have is in the bucket. Eager
 * usually publishes first, so a snapshot's own plan is against eager's previous snapshot: what
 * the candidate adds over conservative's is spread over the ledgers of every snapshot between
 * them. Where that chain is too long or cannot be followed, the difference is planned directly
 * (a ledger of its own, named after both snapshots).
 */

import type { ObjectStore } from "../store/store";
import type { RegistryRef } from "../protocol/paths";
import type { PrefetchLedger, Progress } from "./ledger";

/** How many snapshots' ledgers (the candidate's included, one call each) the gate counts to reach conservative's. */
export const MAX_GATE_CHAIN = 16;

/** What the gate needs of the prefetcher. */
export interface GateDeps {
  readonly mode: "off" | "packages" | "all";
  ledger(ref: RegistryRef, since?: string): DurableObjectStub<PrefetchLedger>;
  snapshotSeen(ref: RegistryRef, base: string | null, since?: boolean): Promise<void>;
  queueArtifacts(item: { snapshot: RegistryRef; key: string; label: string; since?: string }, store: ObjectStore): Promise<void>;
}

/**
 * A ledger's progress, after looking for its failed items in the bucket (a client or
 * infra:prefetch may have filled them). A package found there has its artifacts queued before it
 * counts as done, as a prefetched one would.
 */
async function checked(deps: GateDeps, ref: RegistryRef, since: string | undefined, store: ObjectStore): Promise<Progress> {
  const ledger = deps.ledger(ref, since);
  let p = (await ledger.progress()) as Progress;
  if (p.failed > 0) {
    const found = (await Promise.all(p.failures.map(async (f) => ((await store.head(f.key)) ? f : null)))).filter((f) => f !== null);
    for (const f of found) {
      if (deps.mode === "all" && f.key.startsWith("package/"))
        await deps.queueArtifacts({ snapshot: ref, key: f.key, label: f.label, ...(since ? { since } : {}) }, store);
      await ledger.settle(f.key, "done");
    }
    if (found.length > 0) p = (await ledger.progress()) as Progress;
  }
  return p;
}

/** Null when everything `ref` adds over `base` is in the bucket; otherwise why it is held back. */
export async function heldBack(deps: GateDeps, ref: RegistryRef, base: string | null, store: ObjectStore): Promise<string | null> {
  if (base !== null) {
    const direct = await checked(deps, ref, base, store);
    if (direct.plannedAt) {
      if (direct.unsent > 0) await deps.snapshotSeen(ref, base, true);
      if (direct.base !== base) return `prefetching: cannot tell what it adds over ${base}: ${direct.note ?? "not compared"}`;
      return verdict([direct]);
    }
  }
  const own = await checked(deps, ref, undefined, store);
  if (!own.plannedAt && base === null) {
    // Nothing to compare with: nothing to wait for (seeding is infra:prefetch's job).
    await deps.snapshotSeen(ref, null);
    return null;
  }
  if (!own.plannedAt) {
    await deps.snapshotSeen(ref, base);
    return "prefetching: waiting for the snapshot's new versions to be listed";
  }
  const chain: [RegistryRef, Progress][] = [[ref, own]];
  for (let at = own; at.base !== base; ) {
    const previous = at.base === null || chain.length >= MAX_GATE_CHAIN ? null : { uuid: ref.uuid, treeHash: at.base };
    const p = previous ? await checked(deps, previous, undefined, store) : null;
    if (!previous || !p?.plannedAt) {
      await deps.snapshotSeen(ref, base, true);
      return `prefetching: listing what it adds over ${base}`;
    }
    chain.push([previous, p]);
    at = p;
  }
  // Items planned but never sent (a failed send) are sent again.
  for (const [r, p] of chain) if (p.unsent > 0) await deps.snapshotSeen(r, p.base);
  return verdict(chain.map(([, p]) => p));
}

/** Null when nothing in these ledgers is pending or failed; otherwise how far they are. */
function verdict(ledgers: Progress[]): string | null {
  const sum = (f: (p: Progress) => number) => ledgers.reduce((n, p) => n + f(p), 0);
  const [done, total, failed, pending] = [sum((p) => p.done), sum((p) => p.total), sum((p) => p.failed), sum((p) => p.pending)];
  if (pending === 0 && failed === 0) return null;
  const over = ledgers.length > 1 ? ` (over ${ledgers.length} snapshots)` : "";
  return `prefetching: ${done} of ${total} in the bucket${over}${failed > 0 ? `, ${failed} failed` : ""}`;
}
