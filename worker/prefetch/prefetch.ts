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
import type { Fills } from "../fill/coordinator-calls";
import { parseResourcePath, registryPath, type RegistryRef, type Resource } from "../protocol/paths";
import type { PrefetchLedger, Progress } from "./ledger";
import type { DaySpent, PrefetchBudget } from "./budget";
import { heldBack } from "./gate";
import type { PrefetchMessage } from "./messages";
import { planSnapshot, queueArtifacts, type PlanDeps } from "./plan";
import { log } from "../log";

export type { PrefetchMessage } from "./messages";

/** The bindings prefetching needs, checked together by the runtime. */
export interface PrefetchBindings {
  queue: Queue<PrefetchMessage>;
  ledgers: DurableObjectNamespace<PrefetchLedger>;
  budget: DurableObjectNamespace<PrefetchBudget>;
}

/** Queues delays a message by 12 hours at the most. */
const MAX_DELAY_SECONDS = 12 * 3600;
const MAX_RETRY_DELAY_SECONDS = 3600;

/** How long the queue holds an item back after its `attempts`-th failed delivery: doubling from `baseSeconds`, capped. */
export function retryDelaySeconds(baseSeconds: number, attempts: number): number {
  return Math.min(baseSeconds * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_SECONDS);
}

/** Dead-letter queues are named after their queue with `-failed` (wrangler.toml). */
function isDeadLetterQueue(name: string): boolean {
  return name.endsWith("-failed");
}

export class Prefetcher {
  private readonly bindings: PrefetchBindings;
  private readonly config: Config;

  constructor(bindings: PrefetchBindings, config: Config) {
    this.bindings = bindings;
    this.config = config;
  }

  /** What planning (plan.ts) needs of this prefetcher. */
  private get planning(): PlanDeps {
    return { queue: this.bindings.queue, config: this.config, ledger: (ref, since) => this.ledger(ref, since) };
  }

  get mode(): Config["prefetch"]["mode"] {
    return this.config.prefetch.mode;
  }

  /** The snapshot's own ledger, or with `since` the one of what it adds over that older snapshot. */
  ledger(ref: RegistryRef, since?: string): DurableObjectStub<PrefetchLedger> {
    const ns = this.bindings.ledgers;
    return ns.get(ns.idFromName(`${ref.uuid}/${ref.treeHash}${since ? ` since ${since}` : ""}`));
  }

  private budget(): DurableObjectStub<PrefetchBudget> {
    const ns = this.bindings.budget;
    return ns.get(ns.idFromName("daily"));
  }

  /**
   * A snapshot was published, or is waiting at the gate: make sure its plan is on its way (once),
   * and that items planned but never sent are sent. `since`: the plan over `base` (the gate's).
   */
  async snapshotSeen(ref: RegistryRef, base: string | null, since = false): Promise<void> {
    const ledger = this.ledger(ref, since && base ? base : undefined);
    if (!(await ledger.requestPlan(Date.now()))) return;
    try {
      await this.bindings.queue.send({ kind: "snapshot", uuid: ref.uuid, hash: ref.treeHash, base, ...(since ? { since } : {}) });
    } catch (err) {
      // Not on its way after all: the next look may ask again at once.
      await ledger.requestFailed();
      throw err;
    }
    log("info", "prefetch_plan_requested", { registry: registryPath(ref), base, since });
  }

  async spentToday(): Promise<DaySpent> {
    return this.budget().spent(utcDay());
  }

  progress(ref: RegistryRef): Promise<Progress> {
    return this.ledger(ref).progress() as Promise<Progress>;
  }

  /** Null when everything `ref` adds over `base` is in the bucket; otherwise why it is held back (gate.ts). */
  heldBack(ref: RegistryRef, base: string | null, store: ObjectStore): Promise<string | null> {
    return heldBack(this, ref, base, store);
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
    return retryDelaySeconds(this.config.prefetch.retryDelaySeconds, attempts);
  }

  private async handle(message: Message<PrefetchMessage>, store: ObjectStore, fills: Fills): Promise<void> {
    const body = message.body;
    if (body.kind === "snapshot") {
      await planSnapshot(this.planning, body, store);
      return message.ack();
    }
    const ledger = this.ledger(body.snapshot, body.since);
    const resource = parseResourcePath(`/${body.key}`);
    if (!resource || resource.kind === "registry") {
      await ledger.settle(body.key, "failed", "not a package or artifact path");
      return message.ack();
    }
    if (!(await store.head(body.key))) {
      const day = utcDay();
      // The budget is taken once per item, not per attempt: retries and resent messages are free.
      const charged = await ledger.charge(body.key);
      if (
        charged &&
        !(await this.budget().take(day, { fills: this.config.prefetch.dailyBudget, bytes: this.config.prefetch.dailyBytes }))
      ) {
        await ledger.uncharge(body.key);
        // Wait for tomorrow's budget as a new message, so waiting does not spend the retries (an
        // item is charged before its first attempt, so nothing it tried is forgotten either).
        const delaySeconds = Math.min(secondsToNextUtcDay(), MAX_DELAY_SECONDS);
        await this.bindings.queue.send(body, { delaySeconds });
        log("info", "prefetch_deferred", { key: body.key, reason: "daily budget spent", delay_seconds: delaySeconds });
        return message.ack();
      }
      const outcome = await fills.commit(resource);
      if (!outcome.committed) {
        // No upstream has it (yet): nothing was filled, so nothing is spent. The item stays charged,
        // so no later attempt waits for the budget (a deferral would restart its retries).
        if (outcome.absent && charged) await this.budget().refund(day);
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
      if (outcome.bytes > 0) await this.budget().filled(day, outcome.bytes);
      log("info", "prefetch_filled", { key: body.key, label: body.label, bytes: outcome.bytes });
    }
    if (body.kind === "package" && this.config.prefetch.mode === "all") await this.queueArtifacts(body, store);
    await ledger.settle(body.key, "done");
    message.ack();
    await this.makeVariant(resource, fills);
  }

  /**
   * With ZSTD on, the item's zstd variant too, once it is stored (and settled: the gate does not
   * wait for variants, which clients are never made to wait for either). It rides on the item's
   * share of the day's budget: none is made once PREFETCH_DAILY_BYTES is spent (the first client
   * that asks has it made then), and it adds no bytes of its own (it downloads nothing).
   */
  private async makeVariant(resource: Resource, fills: Fills): Promise<void> {
    if (this.config.zstd.mode !== "on") return;
    try {
      const spent = await this.budget().spent(utcDay());
      if (spent.bytes >= this.config.prefetch.dailyBytes) return;
      await fills.transcode(resource);
    } catch (err) {
      log("warn", "zstd_failed", { key: resource.key, detail: String(err) });
    }
  }

  /** Reads a stored package's Artifacts.toml and queues the artifacts it names (up to the caps). */
  queueArtifacts(body: { snapshot: RegistryRef; key: string; label: string; since?: string }, store: ObjectStore): Promise<void> {
    return queueArtifacts(this.planning, body, store);
  }

  /** The queue gave up on a message: its item failed for good (until the next snapshot lists it again). */
  private async deadLetter(body: PrefetchMessage): Promise<void> {
    log("warn", "prefetch_dead_letter", { message: body });
    if (body.kind === "snapshot") return;
    await this.ledger(body.snapshot, body.since).settle(body.key, "failed", null);
  }
}

function utcDay(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

function secondsToNextUtcDay(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((next - now.getTime()) / 1000);
}
