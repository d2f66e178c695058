/**
 * What the prefetch Durable Objects keep, and for how long: a ledger deletes itself
 * LEDGER_RETENTION_MS after its last change (its alarm, run here at once instead of waited for),
 * and the budget keeps only the last few days. Also the ledger's bookkeeping of what was sent.
 */

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LEDGER_RETENTION_MS, type PrefetchLedger } from "../../../worker/prefetch/ledger";
import { BUDGET_DAYS_KEPT, type PrefetchBudget } from "../../../worker/prefetch/budget";

const ledger = (name: string) => env.PREFETCH_LEDGERS!.get(env.PREFETCH_LEDGERS!.idFromName(name));
const budget = (name: string) => env.PREFETCH_BUDGET!.get(env.PREFETCH_BUDGET!.idFromName(name));
const item = (n: number) => ({ key: `artifact/${String(n).padStart(40, "0")}`, kind: "artifact" as const, label: `a${n}` });

describe("a prefetch ledger", () => {
  it("deletes itself when its retention is over, and a snapshot asked about again is planned again", async () => {
    const stub = ledger("retention");
    const before = Date.now();
    expect(await stub.plan("b".repeat(40), [item(1), item(2)], null)).toBe(true);
    await stub.settle(item(1).key, "done");
    const alarm = await runInDurableObject(stub, (_: PrefetchLedger, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThanOrEqual(before + LEDGER_RETENTION_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const keys = await runInDurableObject(stub, (_: PrefetchLedger, state) =>
      state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
        .toArray(),
    );
    expect(keys).toEqual([]);
    expect(await stub.progress()).toMatchObject({ plannedAt: null, total: 0 });
    expect(await stub.requestPlan(Date.now())).toBe(true);
  });

  it("is not created by being read: only a ledger that was written exists, and it always has an expiry", async () => {
    const stub = ledger("read-only");
    expect(await stub.progress()).toMatchObject({ plannedAt: null, total: 0 });
    expect(await stub.unsent(10)).toEqual([]);
    const tables = () =>
      runInDurableObject(stub, (_: PrefetchLedger, state) =>
        state.storage.sql
          .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
          .toArray(),
      );
    expect(await tables()).toEqual([]);
    expect(await runInDurableObject(stub, (_: PrefetchLedger, state) => state.storage.getAlarm())).toBeNull();
    await stub.requestPlan(Date.now());
    expect((await tables()).length).toBeGreaterThan(0);
    expect(await runInDurableObject(stub, (_: PrefetchLedger, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("tells planned from sent: a planned item whose message was never sent is asked for again", async () => {
    const stub = ledger("unsent");
    expect(await stub.requestPlan(1_000)).toBe(true);
    await stub.plan(null, [item(1), item(2), item(3)], null);
    expect((await stub.unsent(2)).map((i) => i.key)).toEqual([item(1).key, item(2).key]);
    await stub.sent([item(1).key, item(2).key]);
    expect(await stub.progress()).toMatchObject({ pending: 3, unsent: 1 });
    // Planned with one item unsent: another plan message is wanted, once the last request's patience is over.
    expect(await stub.requestPlan(2_000)).toBe(false);
    expect(await stub.requestPlan(1_000 + 11 * 60_000)).toBe(true);
    await stub.sent([item(3).key]);
    expect(await stub.requestPlan(1_000 + 30 * 60_000)).toBe(false);
  });
});

describe("the prefetch budget", () => {
  it("keeps the last few days only: older ones are deleted when a new day is written", async () => {
    const stub = budget("retention");
    await runInDurableObject(stub, async (_: PrefetchBudget, state) => {
      await state.storage.put("2026-01-01", 7); // a record from before bytes were counted
      await state.storage.put("2026-03-01", { fills: 3, bytes: 10 });
      await state.storage.put("2026-03-09", { fills: 2, bytes: 5 });
    });
    expect(await stub.spent("2026-01-01")).toEqual({ fills: 7, bytes: 0 });
    expect(await stub.take("2026-03-10", { fills: 10, bytes: 100 })).toBe(true);
    const days = await runInDurableObject(stub, async (_: PrefetchBudget, state) => [...(await state.storage.list()).keys()]);
    expect(BUDGET_DAYS_KEPT).toBe(2);
    expect(days).toEqual(["2026-03-09", "2026-03-10"]);
  });

  it("refuses a fill once the day's fills or bytes are spent, and gives back a fill that was not one", async () => {
    const stub = budget("limits");
    const limits = { fills: 2, bytes: 100 };
    expect(await stub.take("2026-03-10", limits)).toBe(true);
    await stub.filled("2026-03-10", 100);
    expect(await stub.take("2026-03-10", limits)).toBe(false);
    expect(await stub.take("2026-03-10", { fills: 2, bytes: 1000 })).toBe(true);
    expect(await stub.take("2026-03-10", { fills: 2, bytes: 1000 })).toBe(false);
    await stub.refund("2026-03-10");
    expect(await stub.spent("2026-03-10")).toEqual({ fills: 1, bytes: 100 });
  });
});
