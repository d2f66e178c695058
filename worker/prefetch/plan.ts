/**
 * Planning: reading what a snapshot adds (the diff of two snapshots, a package's Artifacts.toml)
 * into its ledger, and sending the ledger's items to the queue, each batch recorded as sent once
 * the queue took it.
 */

import type { Config } from "../config";
import type { ObjectStore } from "../store/store";
import { registryPath, type RegistryRef } from "../protocol/paths";
import { addedVersions } from "./snapshot";
import { artifactsOf, chooseArtifacts, type ArtifactEntry } from "./artifacts";
import type { PlannedItem, PrefetchLedger } from "./ledger";
import { label, type PrefetchMessage } from "./messages";
import { log } from "../log";

/** The largest batch Queues takes in one sendBatch call. */
const SEND_BATCH = 100;

/** What planning needs: the queue, prefetching's settings, and the ledgers. */
export interface PlanDeps {
  readonly queue: Queue<PrefetchMessage>;
  readonly config: Config;
  ledger(ref: RegistryRef, since?: string): DurableObjectStub<PrefetchLedger>;
}

/** Reads both snapshots from the bucket, plans what the newer one adds, and sends what is not sent yet. */
export async function planSnapshot(deps: PlanDeps, body: PrefetchMessage & { kind: "snapshot" }, store: ObjectStore): Promise<void> {
  const ref = { uuid: body.uuid, treeHash: body.hash };
  const since = body.since && body.base ? body.base : undefined;
  const ledger = deps.ledger(ref, since);
  if ((await ledger.progress()).plannedAt) {
    // Planned by an earlier delivery, which may have stopped before sending everything.
    await sendUnsent(deps, ref, since);
    return;
  }
  const key = (hash: string) => registryPath({ uuid: body.uuid, treeHash: hash }).slice(1);
  const next = await store.get(key(body.hash));
  if (!next) throw new Error(`${key(body.hash)} is not in the bucket`);
  const base = body.base ? await store.get(key(body.base)) : null;
  if (!base) {
    // The first snapshot (or one whose predecessor is gone) adds everything: seeding a whole
    // registry is infra:prefetch's job, not the queue's. No base is recorded: the gate cannot
    // take this plan as covering anything.
    await next.body.cancel();
    await ledger.plan(
      null,
      [],
      body.base ? `the previous snapshot ${body.base} is not in the bucket` : "no earlier snapshot to compare with",
    );
    log("info", "prefetch_planned", { registry: registryPath(ref), base: body.base, added: 0 });
    return;
  }
  const { added, cost } = await addedVersions(base.body, next.body);
  const items: PlannedItem[] = added.map((v) => ({
    key: `package/${v.uuid}/${v.treeHash}`,
    kind: "package",
    label: label(`${v.name}@${v.version}`),
  }));
  await ledger.plan(body.base, items, null);
  await sendUnsent(deps, ref, since);
  log("info", "prefetch_planned", { registry: registryPath(ref), base: body.base, since: since ?? null, added: items.length, ...cost });
}

/** Reads a stored package's Artifacts.toml and queues the artifacts it names (up to the caps). */
export async function queueArtifacts(
  deps: PlanDeps,
  body: { snapshot: RegistryRef; key: string; label: string; since?: string },
  store: ObjectStore,
): Promise<void> {
  const object = await store.get(body.key);
  if (!object) return;
  const { platforms, lazy, maxArtifactsPerVersion, maxArtifactsPerSnapshot } = deps.config.prefetch;
  let named: ArtifactEntry[];
  try {
    named = await artifactsOf(object.body);
  } catch (err) {
    // The package is verified and stored; its Artifacts.toml is what it is (too large, say), so
    // retrying would read the same bytes. Its artifacts are left to clients' misses.
    log("warn", "prefetch_artifacts_unreadable", {
      key: body.key,
      label: body.label,
      error: err instanceof Error ? err.message : String(err),
    });
    return;
  }
  // One item per artifact (several platforms may share one), at most the per-version cap.
  const byKey = new Map<string, PlannedItem>();
  for (const a of chooseArtifacts(named, platforms, lazy)) {
    const key = `artifact/${a.treeHash}`;
    if (!byKey.has(key))
      byKey.set(key, { key, kind: "artifact", label: label(`${body.label} ${a.name}${a.platform ? ` (${a.platform})` : ""}`) });
  }
  const chosen = [...byKey.values()];
  const items = chosen.slice(0, maxArtifactsPerVersion);
  if (items.length === 0) return;
  const ledger = deps.ledger(body.snapshot, body.since);
  const { toSend, skipped } = await ledger.add(body.key, items, maxArtifactsPerSnapshot, chosen.length - items.length);
  if (skipped > 0)
    log("warn", "prefetch_artifacts_capped", {
      key: body.key,
      label: body.label,
      named: chosen.length,
      left_out: skipped,
      per_version: maxArtifactsPerVersion,
      per_snapshot: maxArtifactsPerSnapshot,
    });
  await send(deps, body.snapshot, body.since, toSend);
}

/** Sends every pending item of the ledger whose message has not been sent yet. */
async function sendUnsent(deps: PlanDeps, snapshot: RegistryRef, since: string | undefined): Promise<void> {
  const ledger = deps.ledger(snapshot, since);
  for (let batch = await ledger.unsent(SEND_BATCH); batch.length > 0; batch = await ledger.unsent(SEND_BATCH))
    await send(deps, snapshot, since, batch);
}

/** Sends the items' messages, and records each batch the queue took as sent. */
async function send(deps: PlanDeps, snapshot: RegistryRef, since: string | undefined, items: PlannedItem[]): Promise<void> {
  const ledger = deps.ledger(snapshot, since);
  for (let i = 0; i < items.length; i += SEND_BATCH) {
    const batch = items.slice(i, i + SEND_BATCH);
    await deps.queue.sendBatch(
      batch.map((item) => ({
        body: { kind: item.kind, snapshot, key: item.key, label: item.label, ...(since ? { since } : {}) },
      })),
    );
    await ledger.sent(batch.map((item) => item.key));
  }
}
