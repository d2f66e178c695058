/**
 * The deployment's daily prefetch budget, kept by one Durable Object: fills and bytes per UTC day.
 * Only the last few days are kept.
 */

import { DurableObject } from "cloudflare:workers";

/** What one UTC day's prefetch fills took. */
export interface DaySpent {
  fills: number;
  bytes: number;
}

/** Days older than this many before today are deleted whenever a day is written. */
export const BUDGET_DAYS_KEPT = 2;

/** The deployment's prefetch fills and bytes per UTC day: one object, one record per day (`YYYY-MM-DD`). */
export class PrefetchBudget extends DurableObject {
  private async read(day: string): Promise<DaySpent> {
    const stored = await this.ctx.storage.get<DaySpent | number>(day);
    // Records from before bytes were counted are a bare count of fills.
    if (typeof stored === "number") return { fills: stored, bytes: 0 };
    return stored ?? { fills: 0, bytes: 0 };
  }

  private async write(day: string, spent: DaySpent): Promise<void> {
    await this.ctx.storage.put(day, spent);
    const oldest = new Date(Date.parse(`${day}T00:00:00Z`) - BUDGET_DAYS_KEPT * 86_400_000).toISOString().slice(0, 10);
    const old = [...(await this.ctx.storage.list({ end: oldest })).keys()];
    if (old.length > 0) await this.ctx.storage.delete(old);
  }

  /** Takes one fill from the day's budget; false when its fills or its bytes are spent. */
  async take(day: string, limits: { fills: number; bytes: number }): Promise<boolean> {
    const spent = await this.read(day);
    if (spent.fills >= limits.fills || spent.bytes >= limits.bytes) return false;
    await this.write(day, { ...spent, fills: spent.fills + 1 });
    return true;
  }

  /** A fill taken that turned out not to be one (no upstream had it). */
  async refund(day: string): Promise<void> {
    const spent = await this.read(day);
    if (spent.fills > 0) await this.write(day, { ...spent, fills: spent.fills - 1 });
  }

  /** Bytes a fill stored. */
  async filled(day: string, bytes: number): Promise<void> {
    const spent = await this.read(day);
    await this.write(day, { ...spent, bytes: spent.bytes + bytes });
  }

  spent(day: string): Promise<DaySpent> {
    return this.read(day);
  }
}
