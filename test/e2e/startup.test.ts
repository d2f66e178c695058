/**
 * What `wrangler dev` prints when the worker is loaded, before any request: the configuration in
 * effect, or every problem with it at once.
 */

import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnWrangler } from "../../infra/lib/tools.ts";
import { freePort } from "../fixtures/wrangler-dev.ts";

const PORT_TAKEN = "Address already in use";

/**
 * Starts wrangler dev, sends it no request, and returns what it printed once `event` appeared (or
 * after 60 s). A free port can be taken by another process's outgoing connection before wrangler
 * binds it (it is in the ephemeral range): then it tries again on another port, a few times.
 */
async function startupOutput(vars: Record<string, string>, event: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const out = await startOnce(vars, event);
    if (!out.includes(PORT_TAKEN) || attempt === 3) return out;
  }
}

async function startOnce(vars: Record<string, string>, event: string): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), "pkgedge-startup-"));
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(await freePort()),
    "--persist-to",
    state,
    "--show-interactive-dev-session=false",
  ];
  // The lines are read as JSON (the local configuration prints text).
  for (const [k, v] of Object.entries({ LOG_FORMAT: "json", ...vars })) args.push("--var", `${k}:${v}`);
  const child = spawnWrangler(args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 60_000);
      const seen = (d: Buffer) => {
        out += d.toString();
        if (out.includes(`"event":"${event}"`) || out.includes(PORT_TAKEN)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", seen);
      child.stderr!.on("data", seen);
    });
  } finally {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    rmSync(state, { recursive: true, force: true });
  }
  return out;
}

describe("wrangler dev at startup", () => {
  it("prints every configuration problem before any request", async () => {
    const out = await startupOutput({ STORAGE: "s3", REGISTRY_TTL_SECONDS: "-5" }, "config_invalid");
    const line = out.split("\n").find((l) => l.includes('"event":"config_invalid"'));
    expect(line, out).toBeDefined();
    const event = JSON.parse(line!.slice(line!.indexOf("{"), line!.lastIndexOf("}") + 1)) as { problems: { variable: string }[] };
    expect(event.problems.map((p) => p.variable).sort()).toEqual([
      "REGISTRY_TTL_SECONDS",
      "S3_ACCESS_KEY_ID",
      "S3_BUCKET",
      "S3_ENDPOINT",
      "S3_SECRET_ACCESS_KEY",
    ]);
  });

  it("prints the configuration in effect before any request", async () => {
    const out = await startupOutput({ UPSTREAM_SERVERS: "http://127.0.0.1:9" }, "config");
    expect(out).toMatch(/"event":"config","upstreams":\["http:\/\/127\.0\.0\.1:9"\]/);
  });
});
