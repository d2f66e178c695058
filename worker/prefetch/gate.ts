/**
 * The gate for /registries.conservative (PREFETCH_GATE): a snapshot is published for conservative
 * clients only once everything it adds over the snapshot they have is in the bucket. Eager
 * usually publishes first, so a snapshot's own plan is against eager's previous snapshot: what
 * the candidate adds over conservative's is spread over the ledgers of every snapshot between
 * them. Where that chain is too long or cannot be followed, the difference is planned directly
 * (a ledger of its own, named after both snapshots).
 *
 * A send the queue refuses holds back the candidate it was for (the next round asks again); it
 * never fails the round, which decides other registries too.
 */

import type { ObjectStore } from "../store/store";
import type { RegistryRef } from "../protocol/paths";
import type { PrefetchLedger, Progress } from "./ledger";
import { log } from "../log";

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
      if (deps.mode === "all" && f.key.startsWith("package/")) {
        const refused = await sendFailure(() =>
          deps.queueArtifacts({ snapshot: ref, key: f.key, label: f.label, ...(since ? { since } : {}) }, store),
        );
        // Its artifacts are not on their way: it stays failed, and the next look tries again.
        if (refused !== null) continue;
      }
      await ledger.settle(f.key, "done");
    }
    if (found.length > 0) p = (await ledger.progress()) as Progress;
  }
  return p;
}

/**
 * Null when everything `ref` adds over `base` is in the bucket; otherwise why it is held back.
 * With no base (conservative clients have nothing yet) there is no difference to plan directly, so
 * a chain that breaks or runs past MAX_GATE_CHAIN is judged by the ledgers it reached.
 */
export async function heldBack(deps: GateDeps, ref: RegistryRef, base: string | null, store: ObjectStore): Promise<string | null> {
  const requested = async (r: RegistryRef, b: string | null, since?: boolean) => {
    const refused = await sendFailure(() => deps.snapshotSeen(r, b, since));
    return refused === null ? "" : ` (the queue refused the plan request: ${refused})`;
  };
  if (base !== null) {
    const direct = await checked(deps, ref, base, store);
    if (direct.plannedAt) {
      if (direct.unsent > 0) await requested(ref, base, true);
      if (direct.base !== base) return `prefetching: cannot tell what it adds over ${base}: ${direct.note ?? "not compared"}`;
      return verdict([direct]);
    }
  }
  const own = await checked(deps, ref, undefined, store);
  if (!own.plannedAt && base === null) {
    // Nothing to compare with: nothing to wait for (seeding is infra:prefetch's job).
    await requested(ref, null);
    return null;
  }
  if (!own.plannedAt) return `prefetching: waiting for the snapshot's new versions to be listed${await requested(ref, base)}`;
  const chain: [RegistryRef, Progress][] = [[ref, own]];
  for (let at = own; at.base !== base; ) {
    const previous = at.base === null || chain.length >= MAX_GATE_CHAIN ? null : { uuid: ref.uuid, treeHash: at.base };
    const p = previous ? await checked(deps, previous, undefined, store) : null;
    if (!previous || !p?.plannedAt) {
      if (base === null) break;
      return `prefetching: listing what it adds over ${base}${await requested(ref, base, true)}`;
    }
    chain.push([previous, p]);
    at = p;
  }
  // Items planned but never sent (a failed send) are sent again; until then they count as pending.
  for (const [r, p] of chain) if (p.unsent > 0) await requested(r, p.base);
  return verdict(chain.map(([, p]) => p));
}

/** Runs a send to the queue: null once it is sent, else why not (logged). */
async function sendFailure(send: () => Promise<void>): Promise<string | null> {
  try {
    await send();
    return null;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log("warn", "prefetch_gate_send_failed", { error });
    return error;
  }
}

/** Null when nothing in these ledgers is pending or failed; otherwise how far they are. */
function verdict(ledgers: Progress[]): string | null {
  const sum = (f: (p: Progress) => number) => ledgers.reduce((n, p) => n + f(p), 0);
  const [done, total, failed, pending] = [sum((p) => p.done), sum((p) => p.total), sum((p) => p.failed), sum((p) => p.pending)];
  if (pending === 0 && failed === 0) return null;
  const over = ledgers.length > 1 ? ` (over ${ledgers.length} snapshots)` : "";
  return `prefetching: ${done} of ${total} in the bucket${over}${failed > 0 ? `, ${failed} failed` : ""}`;
}
