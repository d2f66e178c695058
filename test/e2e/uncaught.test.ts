/**
 * What a designed rejection prints under `wrangler dev`, on both backends. pkgedge tells a client
 * that a transfer is not whole the only way a Worker can: it errors the response body. The runtime
 * prints every such body as an uncaught error ("✘ [ERROR] Uncaught Error: …"), so pkgedge makes the
 * error its own (BrokenTransfer, naming the request and saying it was on purpose) instead of the
 * bare "Network connection lost." of the stream it came through; and pkgedge's isolate has no
 * unhandled rejection. The first describe shows the runtime alone doing the same, and that an R2
 * put whose body breaks prints nothing under `wrangler dev` (in the vitest pool the local R2
 * simulator does print two lines per such put: docs/operations.md).
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { createUpstream, type Fault } from "../shared/control.ts";
import "../shared/manifest.ts";
import { REPO, startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { s3StorageVars, startS3Server } from "../fixtures/s3-server.ts";

const manifest = inject("manifest");

/** Every "Uncaught" line wrangler printed. */
function uncaught(output: string): string[] {
  return output
    .split("\n")
    .filter((line) => /Uncaught/.test(line))
    .map((line) => stripVTControlCharacters(line).trim());
}

async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** Reads a response to its end: whether it ended cleanly. */
async function endsCleanly(res: Response): Promise<boolean> {
  try {
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

describe("the runtime alone under wrangler dev", () => {
  let dev: WranglerDev;
  let persistTo: string;
  beforeAll(async () => {
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-broken-streams-"));
    dev = await startWranglerDev({ vars: {}, persistTo, config: join(REPO, "test/fixtures/broken-streams/wrangler.toml") });
  });
  afterAll(async () => {
    await dev?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("prints nothing for an R2 put whose body is aborted or closed short, and an uncaught error for a broken response body", async () => {
    for (const end of ["abort", "close", "abort", "close"]) {
      expect(await (await fetch(`${dev.url}/put?end=${end}`)).text()).toMatch(/^rejected: /);
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(uncaught(dev.output()), "a rejected put").toEqual([]);
    for (const length of ["known", "unknown"]) {
      expect(await endsCleanly(await fetch(`${dev.url}/respond?length=${length}`)), "a broken transfer").toBe(false);
    }
    await waitFor(() => uncaught(dev.output()).length >= 2, 3000);
    const lines = uncaught(dev.output());
    expect(lines.length, "each broken response body is printed as uncaught").toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toContain("the bytes failed a check");
    expect(dev.output(), "none is the worker's own unhandled rejection").not.toContain("REPRO_OWN_UNHANDLED");
  });
});

describe.each(["r2", "s3"] as const)("designed rejections under wrangler dev (%s)", (backend) => {
  let dev: WranglerDev;
  let persistTo: string;
  let s3: Awaited<ReturnType<typeof startS3Server>> | undefined;
  const pkg = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
  const rejections: [string, Fault][] = [
    [manifest.artifact, "wrong-bytes"], // a tree-hash mismatch, found at the end
    [pkg, "corrupt-gzip"], // broken gzip, waited for: a 502
    [manifest.bigArtifact, "truncate"], // a body cut short (continuations off below)
    [manifest.largeArtifact, "gzip-bomb"], // an archive the verifier refuses
  ];

  beforeAll(async () => {
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-e2e-uncaught-"));
    const up = await createUpstream(manifest.controlUrl, { faults: Object.fromEntries(rejections) });
    if (backend === "s3") s3 = await startS3Server(join(persistTo, "s3"));
    const vars = { UPSTREAM_SERVERS: up.url, FILL_MAX_RESUMPTIONS: "0", ...(s3 ? s3StorageVars(s3.info) : {}) };
    dev = await startWranglerDev({ vars, persistTo });
  });
  afterAll(async () => {
    await dev?.stop();
    await s3?.close();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("prints fill_rejected for each, and as uncaught only pkgedge's own broken transfers", async () => {
    let broken = 0;
    for (const [path] of rejections) {
      const res = await fetch(dev.url + path);
      const clean = await endsCleanly(res);
      expect(res.status !== 200 || !clean, `${path}: an error status or a broken transfer`).toBe(true);
      if (!clean) broken++;
    }
    const rejected = () =>
      dev
        .output()
        .split("\n")
        .filter((l) => l.includes('"event":"fill_rejected"')).length;
    await waitFor(() => rejected() >= rejections.length && uncaught(dev.output()).length >= broken, 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // anything printed after the rejections
    expect(rejected()).toBeGreaterThanOrEqual(rejections.length);
    expect(broken, "the artifacts' transfers broke (the package was a 502)").toBe(3);
    expect(dev.output(), "pkgedge's isolate had no unhandled rejection").not.toContain('"event":"unhandled_rejection"');
    const lines = uncaught(dev.output());
    expect(lines.length, "one per broken transfer").toBeGreaterThanOrEqual(broken);
    for (const line of lines)
      expect(line, "each says it was pkgedge's, on purpose").toMatch(/pkgedge broke off GET \/artifact\/[0-9a-f]{40} on purpose/);
  });
});
