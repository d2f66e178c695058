/** `npm run dev` on any port: `npm run dev -- --port N` and `PORT=N npm run dev` both work; a bad PORT is named. */

import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputOf, spawnNode } from "../../infra/lib/tools.ts";
import { freePort } from "../fixtures/wrangler-dev.ts";

/** Starts infra/dev.ts (what `npm run dev` runs) and waits until the mirror answers /meta on `port`. */
async function answersOn(port: number, args: string[], env: Record<string, string> = {}): Promise<boolean> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-dev-"));
  const child = spawnNode("infra/dev.ts", [...args, "--persist-to", state], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const output = outputOf(child);
  try {
    for (let waited = 0; waited < 60_000; waited += 250) {
      const res = await fetch(`http://127.0.0.1:${port}/meta`).catch(() => null);
      if (res?.status === 200) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log((await Promise.race([output, new Promise((r) => setTimeout(r, 100))])) ?? "");
    return false;
  } finally {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    await output;
    rmSync(state, { recursive: true, force: true });
  }
}

describe("npm run dev", () => {
  it("takes the usual --port flag (wrangler.toml's [dev] port is only the default)", async () => {
    const port = await freePort();
    expect(await answersOn(port, ["--port", String(port)])).toBe(true);
  });

  it("takes PORT from the environment", async () => {
    const port = await freePort();
    expect(await answersOn(port, [], { PORT: String(port) })).toBe(true);
  });

  it("refuses a PORT that is not a port, naming it", async () => {
    const { code, output } = await outputOf(spawnNode("infra/dev.ts", [], { env: { PORT: "80a" }, stdio: ["ignore", "pipe", "pipe"] }));
    expect(code).toBe(2);
    expect(output).toContain('PORT: expected a port number from 1 to 65535, got "80a"');
  });
});
