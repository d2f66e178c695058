/**
 * One registry snapshot's prefetch, kept by a Durable Object named after the snapshot: what the
 * snapshot adds over the one published before it (its plan), and where each item stands: pending,
 * in the bucket, or failed (after the queue's retries, or because it cannot be filled). The gate
 * for /registries.conservative and /meta read it; the queue consumer writes it.
 *
 * A second, smaller object keeps the deployment's daily prefetch budget (PrefetchBudget).
 */

import { DurableObject } from "cloudflare:workers";

/** One thing to fill: its bucket key (the protocol path without the slash), and a label for people. */
export interface PlannedItem {
  key: string;
  kind: "package" | "artifact";
  label: string;
}

export interface Progress {
  /** Null until the snapshot's diff has been read. */
  plannedAt: string | null;
  base: string | null;
  /** Why nothing was planned (no snapshot to diff against), when that is so. */
  note: string | null;
  total: number;
  done: number;
  failed: number;
  pending: number;
  /** A few failures, newest first, with their last error. */
  failures: { key: string; label: string; error: string; attempts: number }[];
  /** A few items still pending, for /meta. */
  waiting: string[];
}

type PlanRow = { planned_at: string | null; base: string | null; note: string | null; requested: number | null };

/** How long a plan request is trusted to be on its way before another may be sent. */
const PLAN_REQUEST_PATIENCE_MS = 10 * 60_000;
const SHOWN = 10;

export class PrefetchLedger extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS items (
      key TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
      error TEXT, updated INTEGER NOT NULL DEFAULT 0)`);
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS plan (id INTEGER PRIMARY KEY CHECK (id = 1), planned_at TEXT, base TEXT, note TEXT, requested INTEGER)",
    );
  }

  private planRow(): PlanRow | null {
    return this.sql.exec<PlanRow>("SELECT planned_at, base, note, requested FROM plan WHERE id = 1").toArray()[0] ?? null;
  }

  /** Whether the caller should send the snapshot's plan message: not planned, and not asked for lately. */
  requestPlan(now: number): boolean {
    const row = this.planRow();
    if (row?.planned_at) return false;
    if (row?.requested && now - row.requested < PLAN_REQUEST_PATIENCE_MS) return false;
    this.sql.exec("INSERT INTO plan (id, requested) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET requested = excluded.requested", now);
    return true;
  }

  /** Records the snapshot's plan once; returns false (and changes nothing) if it was already planned. */
  plan(base: string | null, items: PlannedItem[], note: string | null): boolean {
    if (this.planRow()?.planned_at) return false;
    this.add(items);
    this.sql.exec(
      "INSERT INTO plan (id, planned_at, base, note) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET planned_at = excluded.planned_at, base = excluded.base, note = excluded.note",
      new Date().toISOString(),
      base,
      note,
    );
    return true;
  }

  /** Adds items (the artifacts a filled package names); ones already there are left as they are. */
  add(items: PlannedItem[]): void {
    for (const item of items)
      this.sql.exec(
        "INSERT OR IGNORE INTO items (key, kind, label, updated) VALUES (?, ?, ?, ?)",
        item.key,
        item.kind,
        item.label,
        Date.now(),
      );
  }

  /** An attempt's outcome: in the bucket, failed for good, or failed this time (still pending, counted). */
  settle(key: string, outcome: "done" | "failed" | "retrying", error: string | null = null): void {
    const state = outcome === "retrying" ? "pending" : outcome;
    // A failure without an error of its own (the dead-letter queue's) keeps the last attempt's.
    this.sql.exec(
      "UPDATE items SET state = ?, error = COALESCE(?, error), attempts = attempts + ?, updated = ? WHERE key = ? AND state != 'done'",
      state,
      error,
      outcome === "retrying" ? 1 : 0,
      Date.now(),
      key,
    );
  }

  progress(): Progress {
    const plan = this.planRow();
    const counts = new Map<string, number>();
    for (const row of this.sql.exec<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM items GROUP BY state"))
      counts.set(row.state, row.n);
    const failures = this.sql
      .exec<{ key: string; label: string; error: string | null; attempts: number }>(
        "SELECT key, label, error, attempts FROM items WHERE state = 'failed' ORDER BY updated DESC LIMIT ?",
        SHOWN,
      )
      .toArray()
      .map((r) => ({ ...r, error: r.error ?? "" }));
    const waiting = this.sql
      .exec<{ label: string }>("SELECT label FROM items WHERE state = 'pending' ORDER BY key LIMIT ?", SHOWN)
      .toArray()
      .map((r) => r.label);
    const done = counts.get("done") ?? 0;
    const failed = counts.get("failed") ?? 0;
    const pending = counts.get("pending") ?? 0;
    return {
      plannedAt: plan?.planned_at ?? null,
      base: plan?.base ?? null,
      note: plan?.note ?? null,
      total: done + failed + pending,
      done,
      failed,
      pending,
      failures,
      waiting,
    };
  }
}

/** The deployment's prefetch fills per UTC day: one object, one counter per day. */
export class PrefetchBudget extends DurableObject {
  /** Takes one fill from today's budget; false when it is spent. */
  async take(day: string, limit: number): Promise<boolean> {
    const spent = (await this.ctx.storage.get<number>(day)) ?? 0;
    if (spent >= limit) return false;
    await this.ctx.storage.put(day, spent + 1);
    return true;
  }

  async spent(day: string): Promise<number> {
    return (await this.ctx.storage.get<number>(day)) ?? 0;
  }
}
