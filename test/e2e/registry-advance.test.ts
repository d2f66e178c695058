/**
 * A complete advance under `wrangler dev`: every upstream moves from one snapshot to the next
 * together (each lists only the new one and holds both, the common case with storage servers).
 * The registry's history (the fixture upstream's `/history`) proves it newer, so the list follows
 * in the refresh round that first sees it, with no dwell.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../shared/manifest.ts";
import { createUpstream, type Upstream } from "../shared/control.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";

const manifest = inject("manifest");
const list = (i: number) => `${manifest.snapshots[i]}\n`;
let a: Upstream;
let b: Upstream;
let dev: WranglerDev;
let persistTo: string;

async function eager(): Promise<string> {
  return (await fetch(`${dev.url}/registries.eager`)).text();
}

describe("a complete advance", () => {
  beforeAll(async () => {
    a = await createUpstream(manifest.controlUrl, { lists: { eager: list(0) } });
    b = await createUpstream(manifest.controlUrl, { lists: { eager: list(0) } });
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-e2e-advance-"));
    dev = await startWranglerDev({
      vars: { UPSTREAM_SERVERS: `${a.url},${b.url}`, REGISTRY_TTL_SECONDS: "1", BINARY_MIRRORS: "" },
      persistTo,
    });
  });

  afterAll(async () => {
    await dev?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("is followed within one refresh round", async () => {
    expect(await eager()).toBe(list(0)); // the first request waits for the first list
    await a.reconfigure({ lists: { eager: list(1) } });
    await b.reconfigure({ lists: { eager: list(1) } });
    const started = Date.now();
    // A request older than the TTL starts one refresh in the background and is served the stored
    // list; the next request after that refresh sees what it published.
    await new Promise((r) => setTimeout(r, 1100));
    let served = await eager();
    while (served !== list(1) && Date.now() - started < 15_000) {
      await new Promise((r) => setTimeout(r, 250));
      served = await eager();
    }
    expect(served).toBe(list(1));
    // One TTL, one round (a fill of a small registry tarball) and polling: seconds, not the 45 s dwell a tie once cost.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
