/** `npm run dev` on any port: `npm run dev -- --port N` and `PORT=N npm run dev` both work; a bad PORT is named. */

import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputOf, spawnNode } from "../../infra/lib/tools.ts";
import { freePort } from "../fixtures/wrangler-dev.ts";

/**
 * Starts infra/dev.ts (what `npm run dev` runs) and waits until the mirror answers /meta on `port`;
 * `printed` gets what it printed, once it has stopped.
 */
async function answersOn(
  port: number,
  args: string[],
  env: Record<string, string> = {},
  printed?: (output: string) => void,
  then?: () => Promise<void>,
): Promise<boolean> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-dev-"));
  const child = spawnNode("infra/dev.ts", [...args, "--persist-to", state], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const output = outputOf(child);
  try {
    // Until it answers, or gives up (it exits: a port taken, say), or a minute has passed.
    for (let waited = 0; waited < 60_000 && child.exitCode === null; waited += 250) {
      const res = await fetch(`http://127.0.0.1:${port}/meta`).catch(() => null);
      if (res?.status === 200) {
        await res.arrayBuffer();
        await then?.();
        // The access-log line is written once the answer has been delivered.
        await new Promise((r) => setTimeout(r, 500));
        return true;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log((await Promise.race([output, new Promise((r) => setTimeout(r, 100))])) ?? "");
    return false;
  } finally {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    printed?.((await output).output);
    rmSync(state, { recursive: true, force: true });
  }
}

/**
 * answersOn on a free port, tried on another (up to three) when something took it between the
 * choosing and wrangler's binding: other test files start servers at the same time.
 */
async function answersOnFreePort(
  args: (port: number) => string[],
  env: (port: number) => Record<string, string> = () => ({}),
  printed?: (output: string) => void,
  then?: (port: number) => Promise<void>,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let output = "";
    const answered = await answersOn(port, args(port), env(port), (o) => (output = o), then && (() => then(port)));
    if (answered || attempt === 3 || !output.includes("Address already in use")) {
      printed?.(output);
      return answered;
    }
  }
}

describe("npm run dev", () => {
  it("takes the usual --port flag (wrangler.toml's [dev] port is only the default), and logs one text line per request", async () => {
    let output = "";
    expect(
      await answersOnFreePort(
        (port) => ["--port", String(port)],
        undefined,
        (o) => (output = o),
      ),
    ).toBe(true);
    // LOG_FORMAT=text in wrangler.toml's local configuration: `GET /meta 200 - 1.2 KiB 3 ms`, not JSON.
    expect(output).toMatch(/^GET \/meta 200 - [\d.]+ (B|KiB) \d+ ms$/m);
    expect(output).not.toContain('"event":"request"');
    expect(output, "wrangler's own request line is left out").not.toMatch(/\[wrangler:info\].* GET \/meta 200/);
    expect(output, "wrangler's other lines pass through").toContain("Ready on http://127.0.0.1:");
  });

  it("offline, a DNS failure is pkgedge's one line in words, not the local runtime's red block", async () => {
    let output = "";
    const pkg = "/package/7876af07-990d-54b4-ab0e-23690620f79a/e606edb53e34e1efc0b989ad85cc876d5ae22e91";
    const asked = async (port: number) => {
      expect((await fetch(`http://127.0.0.1:${port}${pkg}`)).status).toBe(502);
    };
    const args = (port: number) => ["--port", String(port), "--var", "UPSTREAM_SERVERS:https://upstream.invalid"];
    expect(await answersOnFreePort(args, undefined, (o) => (output = o), asked)).toBe(true);
    expect(output).toContain("DNS lookup failed for upstream.invalid");
    expect(output).toMatch(new RegExp(`^GET ${pkg} 502 ERROR`, "m"));
    expect(output).not.toContain("failed to lookup address information");
  });

  it("takes PORT from the environment", async () => {
    expect(
      await answersOnFreePort(
        () => [],
        (port) => ({ PORT: String(port) }),
      ),
    ).toBe(true);
  });

  it("refuses a PORT that is not a port, naming it", async () => {
    const { code, output } = await outputOf(spawnNode("infra/dev.ts", [], { env: { PORT: "80a" }, stdio: ["ignore", "pipe", "pipe"] }));
    expect(code).toBe(2);
    expect(output).toContain('✗ PORT: expected a port number from 1 to 65535, got "80a"');
  });
});
