/**
 * The status page in a real browser: Chromium (Debian's, or PKGEDGE_CHROMIUM) driven by
 * playwright-core against `wrangler dev`. It renders with no console errors, shows what is
 * published as fresh, and — once the upstream stops answering and the list outlives three
 * registry TTLs — shows it as stale, with the refresh's error; its 24-hour chart draws the requests made. Without a Chromium it is skipped
 * with a message, except in CI, where it must run.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";
import "../shared/manifest.ts";
import { createUpstream, type Upstream } from "../shared/control.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";

function findChromium(): string | null {
  if (process.env.PKGEDGE_CHROMIUM) return process.env.PKGEDGE_CHROMIUM;
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    try {
      return execFileSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch {}
  }
  return existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : null;
}

const executable = findChromium();
if (!executable) {
  if (process.env.CI)
    throw new Error("no Chromium found: CI must run the status page's browser test (apt-get install chromium, or set PKGEDGE_CHROMIUM)");
  console.warn("SKIPPED: the status page's browser test needs Chromium (apt-get install chromium, or set PKGEDGE_CHROMIUM)");
}

const manifest = inject("manifest");
let up: Upstream;
let dev: WranglerDev;
let browser: Browser;
let persistTo: string;

describe.skipIf(!executable)("the status page in Chromium", () => {
  beforeAll(async () => {
    up = await createUpstream(manifest.controlUrl, {
      lists: { conservative: `${manifest.snapshots[0]}\n`, eager: `${manifest.snapshots[0]}\n` },
    });
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-e2e-status-"));
    dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: up.url, REGISTRY_TTL_SECONDS: "1", BINARY_MIRRORS: "" }, persistTo });
    browser = await chromium.launch({ executablePath: executable!, args: ["--no-sandbox", "--headless=new"] });
  });

  afterAll(async () => {
    await browser?.close();
    await dev?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("renders without console errors, fresh, then stale once the upstream stops answering", async () => {
    await (await fetch(`${dev.url}/registries.eager`)).text(); // published now
    await (await fetch(dev.url + manifest.snapshots[0]!)).arrayBuffer(); // one tarball, as gzip
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && problems.push(m.text())));
    page.on("pageerror", (e) => void problems.push(String(e)));
    page.on("requestfailed", (r) => void problems.push(`request failed: ${r.url()}`));

    const res = await page.goto(`${dev.url}/`);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe("pkgedge: a Julia package server");
    expect(await page.textContent("h1")).toBe("pkgedge");
    expect(await page.textContent("#configure")).toContain(`JULIA_PKG_SERVER=${dev.url}`);
    expect(await page.textContent("#configure")).toContain(`$env:JULIA_PKG_SERVER = "${dev.url}"`);
    expect(await page.textContent('tr[data-flavor="eager"] .badge')).toBe("fresh");
    expect(await page.textContent('tr[data-flavor="eager"]')).toContain(manifest.snapshots[0]!.slice(-40));
    expect(await page.isVisible("#outcomes")).toBe(true);
    expect(await page.textContent("#encodings")).toMatch(
      /as gzip: 1; as zstd: 0 \(zstd variants: made for and served to clients that ask\)/,
    );

    // The 24-hour chart: this isolate's hours (no Analytics Engine here), the registry tarball (stored when the list was published: a hit) in the last hour.
    expect(await page.isVisible("svg#hourly")).toBe(true);
    const hours = await page.$$eval("svg#hourly g.hour", (gs) =>
      gs.map((g) => ({
        requests: Number((g as unknown as { dataset: { requests: string } }).dataset.requests),
        title: (g as unknown as { firstElementChild: { textContent: string } }).firstElementChild.textContent,
      })),
    );
    expect(hours).toHaveLength(24);
    expect(hours.reduce((n, h) => n + h.requests, 0)).toBe(1);
    expect(hours.slice(-2).map((h) => h.title)).toContainEqual(expect.stringMatching(/UTC: hit: 1, \d+ B sent$/));
    const bars = await page.$$eval("svg#hourly g.hour rect:not([fill=transparent])", (rs) =>
      rs.map((r) => (r as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height),
    );
    expect(bars.length).toBeGreaterThan(0);
    expect(Math.min(...bars)).toBeGreaterThan(0); // drawn, not collapsed
    expect(await page.textContent("#legend")).toContain("miss (filled)");

    await up.reconfigure({ lists: {} }); // the upstream no longer has any list
    await new Promise((r) => setTimeout(r, 3500)); // past three 1-second TTLs
    await (await fetch(`${dev.url}/registries.eager`)).text(); // serves the stored list, refreshes in the background, fails
    await new Promise((r) => setTimeout(r, 1000));
    await page.reload();
    expect(await page.textContent('tr[data-flavor="eager"] .badge')).toBe("stale");
    expect(await page.textContent('tr[data-flavor="eager"]')).toMatch(/not confirmed against upstream/);
    // Runs in the page (this project's types have no DOM, hence the cast).
    const color = await page.$eval(
      'tr[data-flavor="eager"] .badge',
      (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor,
    );
    expect(color).toBe("rgb(255, 217, 168)");

    // At phone width and at desktop width nothing runs off the side (long hashes and URLs wrap).
    const shots = mkdtempSync(join(tmpdir(), "pkgedge-status-shots-"));
    for (const width of [420, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.reload();
      await page.screenshot({ path: join(shots, `status-${width}.png`), fullPage: true });
      const widths = await page.evaluate(() => {
        const doc = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
        return { scroll: doc.document.documentElement.scrollWidth, inner: doc.innerWidth };
      });
      expect(widths.scroll, `${width} px: page ${widths.scroll} px wide (screenshot in ${shots})`).toBeLessThanOrEqual(widths.inner);
    }
    expect(problems).toEqual([]);
  });
});
