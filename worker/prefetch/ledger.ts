/**
 * One registry snapshot's prefetch, kept by a Durable Object named after the snapshot: what the
 * snapshot adds over the one published before it (its plan), and where each item stands: pending,
 * in the bucket, or failed (after the queue's retries, or because it cannot be filled). The gate
 * for /registries.conservative and /meta read it; the queue consumer writes it. It deletes itself
 * LEDGER_RETENTION_MS after its last change.
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
  /** What the plan was diffed against (null: nothing, see `note`). */
  base: string | null;
  /** Why nothing was planned (no snapshot to diff against), when that is so. */
  note: string | null;
  total: number;
  done: number;
  failed: number;
  pending: number;
  /** Pending items whose message has not been sent yet (a send failed, or the consumer stopped). */
  unsent: number;
  /** Artifacts named but left out by PREFETCH_MAX_ARTIFACTS_PER_VERSION / _PER_SNAPSHOT. */
  skipped: number;
  /** A few failures, newest first, with their last error. */
  failures: { key: string; label: string; error: string; attempts: number }[];
  /** A few items still pending, for /meta. */
  waiting: string[];
}

type PlanRow = { planned_at: string | null; base: string | null; note: string | null; requested: number | null };

/** How long a plan request is trusted to be on its way before another may be sent. */
const PLAN_REQUEST_PATIENCE_MS = 10 * 60_000;
const SHOWN = 10;
/** A ledger nobody has written to for this long deletes itself (a snapshot asked about again is planned again). */
export const LEDGER_RETENTION_MS = 30 * 24 * 3600_000;

const EMPTY: Progress = {
  plannedAt: null,
  base: null,
  note: null,
  total: 0,
  done: 0,
  failed: 0,
  pending: 0,
  unsent: 0,
  skipped: 0,
  failures: [],
  waiting: [],
};

export class PrefetchLedger extends DurableObject {
  private readonly sql: SqlStorage;
  /** False once the alarm has deleted everything: the next call creates the tables again. */
  private ready = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  /** Whether this ledger holds anything (its tables exist). */
  private written(): boolean {
    return this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'plan'").toArray().length > 0;
  }

  private tables(): void {
    if (this.ready) return;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS items (
      key TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
      error TEXT, updated INTEGER NOT NULL DEFAULT 0)`);
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS plan (id INTEGER PRIMARY KEY CHECK (id = 1), planned_at TEXT, base TEXT, note TEXT, requested INTEGER)",
    );
    // Columns added after the first ledgers were written. Items from then count as unsent: sending
    // one again costs a bucket HEAD, losing one wedges the gate.
    this.column("items", "sent", "INTEGER NOT NULL DEFAULT 0");
    // Items that took from the daily budget (a key no plan lists, its ledger expired, say, too).
    this.sql.exec("CREATE TABLE IF NOT EXISTS charged (key TEXT PRIMARY KEY)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS capped (package TEXT PRIMARY KEY, left_out INTEGER NOT NULL)");
    this.ready = true;
  }

  private column(table: string, name: string, definition: string): void {
    const columns = this.sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray();
    if (!columns.some((c) => c.name === name)) this.sql.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`);
  }

  /** Every write pushes the ledger's expiry back: it is deleted LEDGER_RETENTION_MS after its last change. */
  private async touched(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + LEDGER_RETENTION_MS);
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.ready = false;
  }

  private planRow(): PlanRow | null {
    this.tables();
    return this.sql.exec<PlanRow>("SELECT planned_at, base, note, requested FROM plan WHERE id = 1").toArray()[0] ?? null;
  }

  /**
   * Whether the caller should send the snapshot's plan message: not planned, or planned with items
   * whose messages were never sent (the message's consumer sends them); and not asked for lately.
   */
  async requestPlan(now: number): Promise<boolean> {
    const row = this.planRow();
    if (row?.planned_at && this.unsentCount() === 0) return false;
    if (row?.requested && now - row.requested < PLAN_REQUEST_PATIENCE_MS) return false;
    this.sql.exec("INSERT INTO plan (id, requested) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET requested = excluded.requested", now);
    await this.touched();
    return true;
  }

  /** The plan request could not be sent: another may be sent at once. */
  async requestFailed(): Promise<void> {
    this.tables();
    this.sql.exec("UPDATE plan SET requested = NULL WHERE id = 1");
    await this.touched();
  }

  /** Records the snapshot's plan once; returns false (and changes nothing) if it was already planned. */
  async plan(base: string | null, items: PlannedItem[], note: string | null): Promise<boolean> {
    if (this.planRow()?.planned_at) return false;
    this.insert(items);
    this.sql.exec(
      "INSERT INTO plan (id, planned_at, base, note) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET planned_at = excluded.planned_at, base = excluded.base, note = excluded.note",
      new Date().toISOString(),
      base,
      note,
    );
    await this.touched();
    return true;
  }

  private insert(items: PlannedItem[]): void {
    for (const item of items)
      this.sql.exec(
        "INSERT OR IGNORE INTO items (key, kind, label, updated) VALUES (?, ?, ?, ?)",
        item.key,
        item.kind,
        item.label,
        Date.now(),
      );
  }

  /**
   * Adds the artifacts the filled package `from` names, at most `maxArtifacts` artifact items in
   * the whole ledger, and returns those of `items` still to be sent: new ones, and ones an earlier
   * attempt added but could not send. A key another package already named and sent is not
   * returned: each artifact is sent once per snapshot. `leftOut` (over the per-version cap) and
   * those over `maxArtifacts` are recorded for the package as skipped.
   */
  async add(
    from: string,
    items: PlannedItem[],
    maxArtifacts: number,
    leftOut: number,
  ): Promise<{ toSend: PlannedItem[]; skipped: number }> {
    this.tables();
    const count = (query: string, ...args: string[]) => this.sql.exec<{ n: number }>(query, ...args).one().n;
    let artifacts = count("SELECT COUNT(*) AS n FROM items WHERE kind = 'artifact'");
    let skipped = leftOut;
    for (const item of items) {
      if (count("SELECT COUNT(*) AS n FROM items WHERE key = ?", item.key) > 0) continue;
      if (item.kind === "artifact" && artifacts >= maxArtifacts) {
        skipped++;
        continue;
      }
      this.insert([item]);
      if (item.kind === "artifact") artifacts++;
    }
    // Per package, replaced on a retry: the count does not grow with attempts.
    if (skipped > 0) this.sql.exec("INSERT OR REPLACE INTO capped (package, left_out) VALUES (?, ?)", from, skipped);
    const toSend = items.filter(
      (item) => count("SELECT COUNT(*) AS n FROM items WHERE key = ? AND state = 'pending' AND sent = 0", item.key) > 0,
    );
    await this.touched();
    return { toSend, skipped };
  }

  /** Up to `limit` pending items whose message has not been sent. */
  unsent(limit: number): PlannedItem[] {
    if (!this.ready && !this.written()) return [];
    this.tables();
    return this.sql
      .exec<{ key: string; kind: PlannedItem["kind"]; label: string }>(
        "SELECT key, kind, label FROM items WHERE state = 'pending' AND sent = 0 ORDER BY key LIMIT ?",
        limit,
      )
      .toArray();
  }

  private unsentCount(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM items WHERE state = 'pending' AND sent = 0").one().n;
  }

  /** The queue took these items' messages. */
  async sent(keys: string[]): Promise<void> {
    this.tables();
    for (const key of keys) this.sql.exec("UPDATE items SET sent = 1 WHERE key = ?", key);
    await this.touched();
  }

  /**
   * Whether this attempt at `key` is the first to take from the daily budget (and marks it taken):
   * an item is charged once, however many times it is retried or resent.
   */
  async charge(key: string): Promise<boolean> {
    this.tables();
    if (this.sql.exec("INSERT OR IGNORE INTO charged (key) VALUES (?)", key).rowsWritten === 0) return false;
    await this.touched();
    return true;
  }

  /** Gives the charge back: the budget refused it. */
  async uncharge(key: string): Promise<void> {
    this.tables();
    this.sql.exec("DELETE FROM charged WHERE key = ?", key);
    await this.touched();
  }

  /**
   * An attempt's outcome: in the bucket, failed for good, or failed this time (counted; still
   * pending, unless it already failed for good: a late duplicate does not reopen it).
   */
  async settle(key: string, outcome: "done" | "failed" | "retrying", error: string | null = null): Promise<void> {
    this.tables();
    // A failure without an error of its own (the dead-letter queue's) keeps the last attempt's.
    this.sql.exec(
      "UPDATE items SET state = CASE WHEN ? = 'retrying' THEN (CASE WHEN state = 'failed' THEN 'failed' ELSE 'pending' END) ELSE ? END, error = COALESCE(?, error), attempts = attempts + ?, updated = ? WHERE key = ? AND state != 'done'",
      outcome,
      outcome,
      error,
      outcome === "retrying" ? 1 : 0,
      Date.now(),
      key,
    );
    await this.touched();
  }

  progress(): Progress {
    // Reading a ledger that was never written (or has expired) must not create one: nothing
    // would ever delete it.
    if (!this.ready && !this.written()) return { ...EMPTY, failures: [], waiting: [] };
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
      unsent: this.unsentCount(),
      skipped: this.sql.exec<{ n: number | null }>("SELECT SUM(left_out) AS n FROM capped").one().n ?? 0,
      failures,
      waiting,
    };
  }
}
