/**
 * Prefetching (PREFETCH=packages|all): every registry snapshot pkgedge publishes is diffed against
 * the one published before it, and the package versions it adds, then (with `all`) the artifacts
 * those name, are filled through the queue, each through the same single-flight, verified fill as
 * a client's miss. The queue's consumer is this worker (index.ts `queue`).
 *
 * Messages: `snapshot` (diff and plan), then one `package` or `artifact` per item. A failed fill
 * is retried with a doubling delay; after the queue's retries it lands in the dead-letter queue,
 * whose consumer (also this worker) marks it failed in the snapshot's ledger. Fills beyond the
 * daily budget wait for the next UTC day without spending their retries.
 */

import type { Config } from "../config";
import type { ObjectStore } from "../store/store";
import type { Fills } from "../fill/coordinators";
import { parseResourcePath, registryPath, type RegistryRef } from "../protocol/paths";
import { addedVersions } from "./snapshot";
import { artifactsOf, chooseArtifacts, type ArtifactEntry } from "./artifacts";
import type { PlannedItem, PrefetchBudget, PrefetchLedger, Progress } from "./ledger";
import { log } from "../log";

export type PrefetchMessage =
  | { kind: "snapshot"; uuid: string; hash: string; base: string | null }
  | { kind: "package" | "artifact"; snapshot: RegistryRef; key: string; label: string };

/** The bindings prefetching needs, checked together by the runtime. */
export interface PrefetchBindings {
  queue: Queue<PrefetchMessage>;
  ledgers: DurableObjectNamespace<PrefetchLedger>;
  budget: DurableObjectNamespace<PrefetchBudget>;
}

/** The largest batch Queues takes in one sendBatch call. */
const SEND_BATCH = 100;
/** Queues delays a message by 12 hours at the most. */
const MAX_DELAY_SECONDS = 12 * 3600;
const MAX_RETRY_DELAY_SECONDS = 3600;

/** Dead-letter queues are named after their queue with `-failed` (wrangler.toml). */
export function isDeadLetterQueue(name: string): boolean {
  return name.endsWith("-failed");
}

export class Prefetcher {
  private readonly bindings: PrefetchBindings;
  private readonly config: Config;

  constructor(bindings: PrefetchBindings, config: Config) {
    this.bindings = bindings;
    this.config = config;
  }

  ledger(ref: RegistryRef): DurableObjectStub<PrefetchLedger> {
    const ns = this.bindings.ledgers;
    return ns.get(ns.idFromName(`${ref.uuid}/${ref.treeHash}`));
  }

  private budget(): DurableObjectStub<PrefetchBudget> {
    const ns = this.bindings.budget;
    return ns.get(ns.idFromName("daily"));
  }

  /** A snapshot was published, or is waiting at the gate: make sure its plan is on its way (once). */
  async snapshotSeen(ref: RegistryRef, base: string | null): Promise<void> {
    if (!(await this.ledger(ref).requestPlan(Date.now()))) return;
    await this.bindings.queue.send({ kind: "snapshot", uuid: ref.uuid, hash: ref.treeHash, base });
    log("info", "prefetch_plan_requested", { registry: registryPath(ref), base });
  }

  spentToday(): Promise<number> {
    return this.budget().spent(utcDay());
  }

  progress(ref: RegistryRef): Promise<Progress> {
    return this.ledger(ref).progress() as Promise<Progress>;
  }

  /**
   * Null when everything the snapshot adds is in the bucket; otherwise why it is held back. Items
   * that failed are looked for in the bucket first: a client's request, or infra:prefetch, may
   * have filled them since.
   */
  async heldBack(ref: RegistryRef, base: string | null, store: ObjectStore): Promise<string | null> {
    let p = await this.progress(ref);
    if (p.failed > 0) {
      const found = await Promise.all(p.failures.map(async (f) => ((await store.head(f.key)) ? f.key : null)));
      for (const key of found) if (key) await this.ledger(ref).settle(key, "done");
      if (found.some((k) => k !== null)) p = await this.progress(ref);
    }
    if (!p.plannedAt && base === null) {
      // Nothing to compare with: nothing to wait for (seeding is infra:prefetch's job).
      await this.snapshotSeen(ref, null);
      return null;
    }
    if (!p.plannedAt) {
      await this.snapshotSeen(ref, base);
      return "prefetching: waiting for the snapshot's new versions to be listed";
    }
    if (p.pending === 0 && p.failed === 0) return null;
    return `prefetching: ${p.done} of ${p.total} in the bucket${p.failed > 0 ? `, ${p.failed} failed` : ""}`;
  }

  async consume(batch: MessageBatch<PrefetchMessage>, store: ObjectStore, fills: Fills): Promise<void> {
    const deadLetters = isDeadLetterQueue(batch.queue);
    const messages = [...batch.messages];
    const work = async (message: Message<PrefetchMessage>) => {
      try {
        if (deadLetters) await this.deadLetter(message.body);
        else await this.handle(message, store, fills);
      } catch (err) {
        // Our own failure (the bucket, a Durable Object): retried like an upstream's.
        log("warn", "prefetch_error", { message: message.body, error: err instanceof Error ? err.message : String(err) });
        message.retry({ delaySeconds: this.backoff(message.attempts) });
      }
    };
    // At most PREFETCH_CONCURRENCY at once: the rest of the batch waits its turn.
    const running = new Set<Promise<void>>();
    for (const message of messages) {
      const p = work(message).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= this.config.prefetch.concurrency) await Promise.race(running);
    }
    await Promise.all(running);
  }

  private backoff(attempts: number): number {
    const base = this.config.prefetch.retryDelaySeconds;
    return Math.min(base * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_SECONDS);
  }

  private async handle(message: Message<PrefetchMessage>, store: ObjectStore, fills: Fills): Promise<void> {
    const body = message.body;
    if (body.kind === "snapshot") {
      await this.plan(body, store);
      return message.ack();
    }
    const ledger = this.ledger(body.snapshot);
    const resource = parseResourcePath(`/${body.key}`);
    if (!resource || resource.kind === "registry") {
      await ledger.settle(body.key, "failed", "not a package or artifact path");
      return message.ack();
    }
    if (!(await store.head(body.key))) {
      if (!(await this.budget().take(utcDay(), this.config.prefetch.dailyBudget))) {
        // Wait for tomorrow's budget as a new message, so waiting does not spend the retries.
        const delaySeconds = Math.min(secondsToNextUtcDay(), MAX_DELAY_SECONDS);
        await this.bindings.queue.send(body, { delaySeconds });
        log("info", "prefetch_deferred", { key: body.key, reason: "daily budget spent", delay_seconds: delaySeconds });
        return message.ack();
      }
      const outcome = await fills.commit(resource);
      if (!outcome.committed) {
        const delaySeconds = this.backoff(message.attempts);
        await ledger.settle(body.key, "retrying", outcome.reason);
        log("warn", "prefetch_failed", {
          key: body.key,
          label: body.label,
          attempts: message.attempts,
          reason: outcome.reason,
          retry_in: delaySeconds,
        });
        return message.retry({ delaySeconds });
      }
      log("info", "prefetch_filled", { key: body.key, label: body.label });
    }
    if (body.kind === "package" && this.config.prefetch.mode === "all") await this.queueArtifacts(body, store);
    await ledger.settle(body.key, "done");
    message.ack();
  }

  /** Reads both snapshots from the bucket, and plans and queues what the newer one adds. */
  private async plan(body: PrefetchMessage & { kind: "snapshot" }, store: ObjectStore): Promise<void> {
    const ref = { uuid: body.uuid, treeHash: body.hash };
    const ledger = this.ledger(ref);
    const key = (hash: string) => registryPath({ uuid: body.uuid, treeHash: hash }).slice(1);
    const next = await store.get(key(body.hash));
    if (!next) throw new Error(`${key(body.hash)} is not in the bucket`);
    const base = body.base ? await store.get(key(body.base)) : null;
    if (!base) {
      // The first snapshot (or one whose predecessor is gone) adds everything: seeding a whole
      // registry is infra:prefetch's job, not the queue's.
      await next.body.cancel();
      await ledger.plan(body.base, [], body.base ? "the previous snapshot is not in the bucket" : "no earlier snapshot to compare with");
      log("info", "prefetch_planned", { registry: registryPath(ref), base: body.base, added: 0 });
      return;
    }
    const { added, cost } = await addedVersions(base.body, next.body);
    const items: PlannedItem[] = added.map((v) => ({
      key: `package/${v.uuid}/${v.treeHash}`,
      kind: "package",
      label: `${v.name}@${v.version}`,
    }));
    if (!(await ledger.plan(body.base, items, null))) return; // planned by an earlier delivery
    await this.send(ref, items);
    log("info", "prefetch_planned", { registry: registryPath(ref), base: body.base, added: items.length, ...cost });
  }

  private async queueArtifacts(body: { snapshot: RegistryRef; key: string; label: string }, store: ObjectStore): Promise<void> {
    const object = await store.get(body.key);
    if (!object) return;
    const { platforms, lazy } = this.config.prefetch;
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
    const chosen = chooseArtifacts(named, platforms, lazy);
    const items: PlannedItem[] = chosen.map((a) => ({
      key: `artifact/${a.treeHash}`,
      kind: "artifact",
      label: `${body.label} ${a.name}${a.platform ? ` (${a.platform})` : ""}`,
    }));
    if (items.length === 0) return;
    await this.ledger(body.snapshot).add(items);
    await this.send(body.snapshot, items);
  }

  private async send(snapshot: RegistryRef, items: PlannedItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += SEND_BATCH) {
      await this.bindings.queue.sendBatch(
        items.slice(i, i + SEND_BATCH).map((item) => ({ body: { kind: item.kind, snapshot, key: item.key, label: item.label } })),
      );
    }
  }

  /** The queue gave up on a message: its item failed for good (until the next snapshot lists it again). */
  private async deadLetter(body: PrefetchMessage): Promise<void> {
    log("warn", "prefetch_dead_letter", { message: body });
    if (body.kind === "snapshot") return;
    await this.ledger(body.snapshot).settle(body.key, "failed", null);
  }
}

function utcDay(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

function secondsToNextUtcDay(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((next - now.getTime()) / 1000);
}
