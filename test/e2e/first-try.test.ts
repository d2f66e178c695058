/**
 * Right on the first try, through `wrangler dev`: a cold package whose fastest upstream goes bad
 * (wrong or corrupt bytes, a reset, a truncated body, a stall) is answered on its first GET with a
 * verified 200 from another upstream, a crowd shares one GET per upstream, and when no upstream
 * has good bytes the answer is an error status, never a 200. Pkg downloads a package once from its
 * Pkg server and then goes to GitHub, so a real Julia client must install such a package on its
 * first `Pkg.add` with nothing else reachable (and the registry, whose fastest upstream is corrupt too).
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstream, type Fault, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { requestLines, startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { haveJulia, julia } from "./julia-client.ts";
import { holdsFixture, isZstd, pkgHeaders } from "./pkg-client.ts";

const manifest = inject("manifest");
/** Cold packages nothing else in this file asks for (Seedling is only in the prefetch snapshot). */
const seedling = (i: number) => manifest.prefetch.packages[i]!;
const ONE_BAD = ["wrong-bytes", "corrupt-gzip", "reset", "truncate", "stall"] as const satisfies readonly Fault[];
const badPath = (fault: (typeof ONE_BAD)[number]) => seedling(ONE_BAD.indexOf(fault));
const ALL_BAD = seedling(ONE_BAD.length);
const CROWDED = seedling(ONE_BAD.length + 1);
const ALONE = seedling(ONE_BAD.length + 2);
/** The registry snapshot Julia installs. */
const REGISTRY = manifest.snapshots[1]!;
/** What Julia installs with `Pkg.add("Example")`: the newest version in the listed snapshot. */
const EXAMPLE = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;

let fast: Upstream;
let slow: Upstream;
let dev: WranglerDev;
let persistTo: string;

beforeAll(async () => {
  // Both flavors carry the snapshot that has Example 0.5.3: Julia 1.5 picks a flavor from its own CI detection.
  const list = `${REGISTRY}\n`;
  const lists = { eager: list, conservative: list };
  // `fast` wins every HEAD race, so each cold fill starts there; `slow` has good bytes, except for ALL_BAD.
  fast = await createUpstream(manifest.controlUrl, {
    lists,
    faults: {
      ...Object.fromEntries(ONE_BAD.map((f) => [badPath(f), f])),
      [ALL_BAD]: "wrong-bytes",
      [CROWDED]: "reset",
      [ALONE]: "corrupt-gzip",
      [EXAMPLE]: "corrupt-gzip",
      [REGISTRY]: "corrupt-gzip",
    },
  });
  slow = await createUpstream(manifest.controlUrl, { lists, headDelayMs: 300, faults: { [ALL_BAD]: "corrupt-gzip" } });
  persistTo = mkdtempSync(join(tmpdir(), "pkgedge-first-try-"));
  // No prefetching: the packages must still be cold when they are asked for.
  dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: `${fast.url},${slow.url}`, PREFETCH: "off" }, persistTo });
});

afterAll(async () => {
  await dev?.stop();
  if (persistTo) rmSync(persistTo, { recursive: true, force: true });
});

type Outcome = { status: number; headers: Headers; headersAfterMs: number; endedAfterMs: number } & (
  | { clean: true; sha256: string; length: number; body: Buffer }
  | { clean: false; error: string }
);

/** A GET as Pkg sends it, read to its end: when its status line came and its body ended, whether cleanly, and its digest. */
async function get(path: string, server = dev.url): Promise<Outcome> {
  const asked = Date.now();
  const res = await fetch(server + path, { headers: pkgHeaders(server, path) });
  const answered = { status: res.status, headers: res.headers, headersAfterMs: Date.now() - asked };
  try {
    const body = Buffer.from(await res.arrayBuffer());
    const sha256 = createHash("sha256").update(body).digest("hex");
    return { ...answered, endedAfterMs: Date.now() - asked, clean: true, sha256, length: body.length, body };
  } catch (err) {
    return { ...answered, endedAfterMs: Date.now() - asked, clean: false, error: String(err) };
  }
}

/** Whole-object GETs an upstream received for a path. */
const gets = async (up: Upstream, path: string) => (await up.log()).filter((r) => r.method === "GET" && r.path === path).length;

/** A verified answer: the fixture's gzip bytes, or its zstd variant (what Julia 1.13 is given once one was made). */
async function expectVerified(got: Outcome, path: string): Promise<void> {
  expect(got.status, `${path}: status`).toBe(200);
  expect(got.clean, `${path}: the body ends cleanly${got.clean ? "" : ` (${got.error})`}`).toBe(true);
  if (!got.clean) return;
  if (isZstd(got.body)) expect(await holdsFixture(manifest.controlUrl, path, got.body), `${path}: the fixture's tar, as zstd`).toBe(true);
  else expect(got.sha256, `${path}: the fixture's bytes`).toBe(manifest.objects[path]!.sha256);
  expect(got.headers.get("content-length"), `${path}: Content-Length`).toBe(String(got.length));
}

describe("a cold package whose fastest upstream goes bad, through wrangler dev", () => {
  for (const fault of ONE_BAD) {
    it(`answers the first GET with a verified 200 when the fastest upstream's GET is ${fault}`, async () => {
      const path = badPath(fault);
      const first = await get(path);
      await expectVerified(first, path);
      expect(first.headers.get("x-cache-miss"), "a cold miss").toBe("miss");
      expect(await gets(fast, path), "the bad upstream was asked first").toBeGreaterThanOrEqual(1);
      expect(await gets(slow, path), "then the good one").toBe(1);
      // The verified copy is in the bucket: the next GET is a hit.
      const again = await get(path);
      await expectVerified(again, path);
      expect(again.headers.has("x-cache-miss"), "the second GET is a hit").toBe(false);
    });
  }

  it("tells a lone requester whose fill moved on to the next upstream that it was a MISS (X-Cache)", async () => {
    const first = await get(ALONE);
    await expectVerified(first, ALONE);
    expect(await gets(fast, ALONE), "the bad upstream was asked first").toBe(1);
    expect(first.headers.get("x-cache"), "this request started the fill (protocol.md §4.1)").toBe("MISS");
  });

  it("answers an error status with Retry-After, never a 200, when every upstream's bytes are bad", async () => {
    for (const attempt of [1, 2]) {
      const got = await get(ALL_BAD);
      expect(got.status, `attempt ${attempt}: an error status`).toBeGreaterThanOrEqual(500);
      expect(got.status, `attempt ${attempt}: an error status`).toBeLessThan(600);
      expect(got.headers.get("retry-after"), `attempt ${attempt}: Retry-After`).toMatch(/^\d+$/);
      if (got.clean) expect(got.sha256).not.toBe(manifest.objects[ALL_BAD]!.sha256);
    }
    expect([await gets(fast, ALL_BAD), await gets(slow, ALL_BAD)], "each upstream was tried, once").toEqual([1, 1]);
  });

  it("answers a crowd of 20 with verified 200s while the fastest upstream resets, at most one GET per upstream", async () => {
    const crowd = await Promise.all(Array.from({ length: 20 }, () => get(CROWDED)));
    for (const got of crowd) await expectVerified(got, CROWDED);
    const perUpstream = [await gets(fast, CROWDED), await gets(slow, CROWDED)];
    expect(perUpstream[0], "the resetting upstream was asked").toBeGreaterThanOrEqual(1);
    for (const n of perUpstream) expect(n, `GETs per upstream: ${perUpstream}`).toBeLessThanOrEqual(1);
  });
});

describe("a cold package slower than the client's patience, through wrangler dev", () => {
  // "slow": the body in 20 pieces over about two seconds, past a patience of 800 ms.
  const PATIENCE_MS = 800;
  const SLOW_GOOD = seedling(ONE_BAD.length + 3);
  /** Served slowly, and with another package's bytes (under that package's own length). */
  const SLOW_WRONG = seedling(ONE_BAD.length + 4);
  let lagging: Upstream;
  let impatient: WranglerDev;
  let impatientState: string;

  beforeAll(async () => {
    lagging = await createUpstream(manifest.controlUrl, {
      faults: { [SLOW_GOOD]: "slow", [SLOW_WRONG]: "slow" },
      aliases: { [SLOW_WRONG]: seedling(0) },
    });
    impatientState = mkdtempSync(join(tmpdir(), "pkgedge-first-try-"));
    impatient = await startWranglerDev({
      // No throughput floor: a body that slow would be given up as a dribble after a third of the
      // patience and continued with a ranged GET; this is about the patience alone.
      vars: {
        UPSTREAM_SERVERS: lagging.url,
        PREFETCH: "off",
        VERIFY_FIRST_PATIENCE_MS: String(PATIENCE_MS),
        UPSTREAM_MIN_BYTES_PER_SECOND: "0",
      },
      persistTo: impatientState,
    });
  });

  afterAll(async () => {
    await impatient?.stop();
    if (impatientState) rmSync(impatientState, { recursive: true, force: true });
  });

  it("sends the status line once the patience ran out, then streams the fill to a verified, clean end", async () => {
    const got = await get(SLOW_GOOD, impatient.url);
    expect(got.headersAfterMs, "the status line waited for the patience").toBeGreaterThanOrEqual(PATIENCE_MS - 100);
    // Had it waited for the verified copy, the body would follow the status line at once.
    expect(got.endedAfterMs - got.headersAfterMs, "the body streamed while the fill ran").toBeGreaterThanOrEqual(200);
    await expectVerified(got, SLOW_GOOD);
    expect(await gets(lagging, SLOW_GOOD), "one upstream GET").toBe(1);
  });

  it("past the patience, ends wrong bytes in a broken transfer, never a clean wrong body", async () => {
    const got = await get(SLOW_WRONG, impatient.url);
    expect(got.status).toBe(200);
    expect(got.headersAfterMs, "the status line waited for the patience").toBeGreaterThanOrEqual(PATIENCE_MS - 100);
    expect(got.clean, "the held-back end is never sent").toBe(false);
  });
});

describe.skipIf(!haveJulia)("a real Julia client (Pkg) on a registry and a package whose fastest upstream is corrupt", () => {
  it("installs both on its first Pkg.add, from pkgedge alone", async () => {
    // Pkg asks its Pkg server once for a package, then GitHub (unreachable here, and without the
    // fixture's tree), then git. The registry is stored, past the corrupt upstream, before its list is published.
    const { code, output } = await julia(
      dev.url,
      `
      using Pkg
      Pkg.add("Example")
      using Example
      println("HELLO=", Example.hello("pkgedge"))
      println("JULIA_VERSION=", VERSION)
    `,
    );
    if (code !== 0) console.log(output);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Installed Example .* v0\.5\.3/);
    expect(output).not.toMatch(/Cloning|could not download|does not match expected hash|github\.com/i);
    expect(output).toContain("HELLO=Hello, pkgedge");
    expect(await gets(fast, EXAMPLE), "the corrupt upstream was asked for Example's tarball").toBe(1);
    expect(await gets(fast, REGISTRY), "and for the registry's").toBe(1);
    // Julia asked pkgedge once for the tarball, and that one answer was a verified, complete miss.
    const version = /JULIA_VERSION=(\S+)/.exec(output)?.[1];
    await new Promise((r) => setTimeout(r, 500)); // the line is written once the body was delivered
    const asked = requestLines(dev.output()).filter((l) => l.path === EXAMPLE && l.julia_version === version);
    expect(asked, "one request for Example's tarball").toHaveLength(1);
    // Julia's one request started both fills (the corrupt upstream's, then the good one's): a miss.
    expect(asked[0]).toMatchObject({ status: 200, broken: false, cache: "miss" });
  });
});
