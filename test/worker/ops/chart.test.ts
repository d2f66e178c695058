/** The status page's 24-hour chart (a pure function of hours) and the isolate's hourly counts behind it. */

import { describe, expect, it } from "vitest";
import { hourlyChart, niceCeiling, SERIES } from "../../../worker/ops/chart";
import { HOUR_MS, noOutcomes, RequestCounts, type HourCounts } from "../../../worker/ops/counts";
import type { AccessRecord } from "../../../worker/ops/access-log";

const now = Date.parse("2026-12-05T14:20:00Z");
const hour = (hoursAgo: number, over: Partial<HourCounts["outcomes"]>, bytes = 0): HourCounts => ({
  at: Date.parse("2026-12-05T14:00:00Z") - hoursAgo * HOUR_MS,
  outcomes: { ...noOutcomes(), ...over },
  bytes,
});

/** Each hour's group: its data-hour, data-requests, tooltip and the bars' heights by colour. */
function bars(svg: string) {
  return [...svg.matchAll(/<g class="hour" data-hour="([^"]+)" data-requests="(\d+)"><title>([^<]*)<\/title>(.*?)<\/g>/g)].map((g) => ({
    hour: g[1]!,
    requests: Number(g[2]),
    title: g[3]!,
    heights: Object.fromEntries([...g[4]!.matchAll(/height="([\d.]+)" fill="(#\w+)"/g)].map((r) => [r[2]!, Number(r[1])])),
  }));
}

describe("the 24-hour chart", () => {
  it("draws 24 hours ending with the current one, each stacked by outcome in proportion, with a tooltip", () => {
    const svg = hourlyChart(
      [hour(0, { hit: 70, miss: 30 }, 3 * 1024 ** 2), hour(5, { hit: 10, error: 2 }, 1000), hour(30, { hit: 999 })],
      now,
    );
    const hours = bars(svg);
    expect(hours).toHaveLength(24);
    expect(hours[0]!.hour).toBe("2026-12-04T15:00:00.000Z");
    expect(hours[23]!.hour).toBe("2026-12-05T14:00:00.000Z");
    expect(hours.map((h) => h.requests).reduce((a, b) => a + b)).toBe(112); // the hour 30 h ago is not drawn
    const colour = (o: string) => SERIES.find((s) => s.outcome === o)!.colour;
    const last = hours[23]!;
    expect(last.title).toBe("14:00–15:00 UTC: hit: 70, miss (filled): 30, 3.0 MiB sent");
    // The axis tops at 100 (the peak); 70 hits are 70% of the plot, 30 misses 30%.
    expect(last.heights[colour("hit")]! / last.heights[colour("miss")]!).toBeCloseTo(70 / 30, 1);
    expect(last.heights[colour("hit")]! / bars(svg)[18]!.heights[colour("hit")]!).toBeCloseTo(7, 1);
    expect(hours[18]!.title).toBe("09:00–10:00 UTC: hit: 10, error: 2, 1000 B sent");
    expect(hours[1]!.title).toBe("16:00–17:00 UTC: no requests");
    expect(svg).toContain('aria-label="Requests per hour over the last 24 hours: 112 in all (3.0 MiB sent), at most 100 (14:00 UTC)"');
    expect(svg).toMatch(/<text[^>]*text-anchor="end">100<\/text>/);
    expect(svg).not.toMatch(/<script|href=/);
  });

  it("says so when there were no requests, and never divides by zero", () => {
    const svg = hourlyChart([], now);
    expect(bars(svg)).toHaveLength(24);
    expect(svg).toContain('aria-label="No requests in the last 24 hours"');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it("rounds the axis up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 2, 3, 7, 10, 11, 99, 101, 4999].map(niceCeiling)).toEqual([1, 1, 2, 5, 10, 10, 20, 100, 200, 5000]);
  });
});

describe("an isolate's hourly counts", () => {
  const record = (cache: AccessRecord["cache"]) =>
    ({ cache, bytes: 1, status: 200, broken: false, encoding: null }) as unknown as AccessRecord;

  it("counts each request with an outcome in its hour and forgets hours older than a day", () => {
    const counts = new RequestCounts();
    const t0 = Date.parse("2026-12-05T00:10:00Z");
    counts.add(record("hit"), t0);
    counts.add(record("miss"), t0 + 1000);
    counts.add(record(null), t0 + 2000); // no outcome (not a protocol answer): not charted
    counts.add(record("hit"), t0 + 3 * HOUR_MS);
    expect(counts.lastDay(t0 + 3 * HOUR_MS)).toEqual([
      { at: Date.parse("2026-12-05T00:00:00Z"), outcomes: { ...noOutcomes(), hit: 1, miss: 1 }, bytes: 2 },
      { at: Date.parse("2026-12-05T03:00:00Z"), outcomes: { ...noOutcomes(), hit: 1 }, bytes: 1 },
    ]);
    expect(counts.lastDay(t0 + 24 * HOUR_MS)).toHaveLength(1); // midnight's hour is a day old
    counts.add(record("error"), t0 + 48 * HOUR_MS);
    expect(counts.lastDay(t0 + 48 * HOUR_MS).map((h) => new Date(h.at).toISOString())).toEqual(["2026-12-07T00:00:00.000Z"]);
    expect(counts.outcomes).toEqual({ ...noOutcomes(), hit: 2, miss: 1, error: 1 });
  });
});
