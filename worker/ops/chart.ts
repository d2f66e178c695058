/**
 * The status page's 24-hour chart: requests per hour, stacked by cache outcome, as inline SVG (no
 * script, no external assets; each bar's <title> is its tooltip). A pure function of the hours it is
 * given, so the page can draw Analytics Engine's deployment-wide hours or one isolate's own.
 */

import type { CacheOutcome } from "./access-log";
import { HOUR_MS, HOURS_KEPT, hourStart, type HourCounts } from "./counts";
import { esc } from "./html";
import { byteSize } from "../log";

/** Drawn bottom to top in this order, with these colours (the legend uses the same). */
export const SERIES: readonly { outcome: CacheOutcome; label: string; colour: string }[] = [
  { outcome: "hit", label: "hit", colour: "#2e8b57" },
  { outcome: "redirect", label: "hit, redirected to the bucket", colour: "#5fa87f" },
  { outcome: "joined", label: "joined a fill", colour: "#8fd19e" },
  { outcome: "miss", label: "miss (filled)", colour: "#3b6fb6" },
  { outcome: "negative", label: "not found", colour: "#b0b0b0" },
  { outcome: "error", label: "error", colour: "#c0392b" },
];

const WIDTH = 720;
const HEIGHT = 170;
const LEFT = 44;
const TOP = 10;
const BOTTOM = 24;
const SLOT = (WIDTH - LEFT) / HOURS_KEPT;
const PLOT = HEIGHT - TOP - BOTTOM;

function total(h: HourCounts | undefined): number {
  return h ? SERIES.reduce((n, s) => n + h.outcomes[s.outcome], 0) : 0;
}

/** The smallest of 1, 2, 5 × 10^k at or above n (at least 1): the y axis's top. */
export function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const scale = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * scale >= n) return step * scale;
  return 10 * scale;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/** The chart for the HOURS_KEPT hours ending with the one `now` is in (UTC). */
export function hourlyChart(hours: readonly HourCounts[], now = Date.now()): string {
  const first = hourStart(now) - (HOURS_KEPT - 1) * HOUR_MS;
  const byHour = new Map(hours.map((h) => [h.at, h] as const));
  const slots = Array.from({ length: HOURS_KEPT }, (_, i) => first + i * HOUR_MS);
  const sum = slots.reduce((n, at) => n + total(byHour.get(at)), 0);
  const sent = slots.reduce((n, at) => n + (byHour.get(at)?.bytes ?? 0), 0);
  const peak = slots.reduce((best, at) => (total(byHour.get(at)) > total(byHour.get(best)) ? at : best), slots[0]!);
  const top = niceCeiling(total(byHour.get(peak)));
  const y = (n: number) => TOP + PLOT - (n / top) * PLOT;
  const parts: string[] = [];
  slots.forEach((at, i) => {
    const h = byHour.get(at);
    const x = LEFT + i * SLOT + 1;
    const said = h ? SERIES.filter((s) => h.outcomes[s.outcome] > 0).map((s) => `${s.label}: ${h.outcomes[s.outcome]}`) : [];
    if (h && total(h) > 0) said.push(`${byteSize(h.bytes)} sent`);
    let base = 0;
    const rects = SERIES.map((s) => {
      const n = h?.outcomes[s.outcome] ?? 0;
      if (n === 0) return "";
      const rect = `<rect x="${x.toFixed(1)}" y="${y(base + n).toFixed(1)}" width="${(SLOT - 2).toFixed(1)}" height="${(y(base) - y(base + n)).toFixed(1)}" fill="${s.colour}"/>`;
      base += n;
      return rect;
    }).join("");
    // A transparent full-height box carries the tooltip, so an hour with few requests is easy to point at.
    parts.push(
      `<g class="hour" data-hour="${new Date(at).toISOString()}" data-requests="${total(h)}"><title>${clock(at)}–${clock(at + HOUR_MS)} UTC: ${esc(said.join(", ") || "no requests")}</title>` +
        `<rect x="${x.toFixed(1)}" y="${TOP}" width="${(SLOT - 2).toFixed(1)}" height="${PLOT}" fill="transparent"/>${rects}</g>`,
    );
  });
  const labels = slots
    .map((at, i) => (i % 6 === 0 ? `<text x="${(LEFT + i * SLOT).toFixed(1)}" y="${HEIGHT - 6}">${clock(at)}</text>` : ""))
    .join("")
    .concat(`<text x="${WIDTH}" y="${HEIGHT - 6}" text-anchor="end">now</text>`);
  const summary =
    sum === 0
      ? "No requests in the last 24 hours"
      : `Requests per hour over the last 24 hours: ${sum} in all (${byteSize(sent)} sent), at most ${total(byHour.get(peak))} (${clock(peak)} UTC)`;
  return (
    `<svg id="hourly" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" role="img" aria-label="${esc(summary)}" font-size="11" font-family="system-ui,sans-serif">` +
    `<title>${esc(summary)}</title>` +
    `<line x1="${LEFT}" y1="${TOP + PLOT}" x2="${WIDTH}" y2="${TOP + PLOT}" stroke="#888"/>` +
    `<line x1="${LEFT}" y1="${TOP}" x2="${WIDTH}" y2="${TOP}" stroke="#ddd"/>` +
    `<text x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end">${top}</text><text x="${LEFT - 4}" y="${TOP + PLOT}" text-anchor="end">0</text>` +
    `${parts.join("")}${labels}</svg>`
  );
}

/** The legend under the chart, in the chart's colours. */
export function chartLegend(): string {
  return SERIES.map((s) => `<span class="key"><span class="swatch" style="background:${s.colour}"></span>${esc(s.label)}</span>`).join(" ");
}
