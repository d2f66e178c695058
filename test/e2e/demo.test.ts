/**
 * `npm run demo` as a newcomer runs it: it refuses a port that is taken (instead of printing its
 * banner over someone else's server), it is this run's server that answers, and a closed terminal
 * (SIGHUP) stops wrangler and removes this run's state.
 */

import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { spawnNode } from "../../infra/lib/tools.ts";
import { freePort, portInUse } from "../fixtures/wrangler-dev.ts";

function demo(port: number, env: Record<string, string> = {}) {
  const child = spawnNode("test/fixtures/demo.ts", [], { env: { PORT: String(port), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, output: () => out, exited };
}

/**
 * A demo on a free port, once it printed its banner. A port chosen free can be taken by another
 * process before wrangler binds it (the demo then refuses it, as the first test checks): another
 * port is tried. A demo that exits otherwise fails with what it printed.
 */
async function readyDemo(env: Record<string, string> = {}): Promise<{ d: ReturnType<typeof demo>; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const d = demo(port, env);
    let exited = false;
    void d.exited.then(() => (exited = true));
    await until(() => exited || d.output().includes("pkgedge demo:"), 120_000).catch(() => {
      d.child.kill("SIGKILL");
      throw new Error(`the demo was not ready in 120 s:\n${d.output().slice(-2000)}`);
    });
    if (!exited) return { d, port };
    if (attempt < 3 && d.output().includes("already in use")) continue;
    throw new Error(`the demo exited before it was ready:\n${d.output().slice(-2000)}`);
  }
}

async function until(what: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("npm run demo", () => {
  it("refuses a port that is taken, with a clear message and a non-zero exit", async () => {
    const port = await freePort();
    const taken = createServer().listen(port, "127.0.0.1");
    try {
      const d = demo(port);
      expect(await d.exited).toBe(1);
      expect(d.output()).toContain(`port ${port} is already in use`);
      expect(d.output()).not.toContain("pkgedge demo:");
    } finally {
      taken.close();
    }
  });

  it("serves as this run, and a closed terminal (SIGHUP) stops wrangler and removes the run's state", async () => {
    const { d, port } = await readyDemo();
    try {
      const runId = /\(run ([0-9a-f-]{36})\)/.exec(d.output())![1];
      const meta = (await (await fetch(`http://127.0.0.1:${port}/meta`)).json()) as { run_id: string };
      expect(meta.run_id).toBe(runId);
      expect(d.output()).toMatch(/JULIA_DEPOT_PATH=\$\(mktemp -d\) JULIA_PKG_SERVER=http:\/\/127\.0\.0\.1:\d+ julia/);
      // The printed miss-then-hit command shows a miss, then a hit.
      const line = d
        .output()
        .split("\n")
        .find((l) => l.includes("x-cache"))!;
      const command = line.slice(0, line.indexOf("#")).trim();
      const run = () => execFileSync("bash", ["-c", command], { encoding: "utf8" }).trim();
      expect(run()).toMatch(/^x-cache: MISS$/i);
      // The first answer goes out once the object is stored, so the second is a hit.
      expect(run()).toMatch(/^x-cache: HIT$/i);
      const state = /State is under (\S+),/.exec(d.output())![1]!;
      expect(existsSync(state)).toBe(true);
      d.child.kill("SIGHUP");
      expect(await d.exited).toBe(0);
      await until(() => !existsSync(state), 10_000);
      expect(await portInUse(port), "wrangler dev stopped with it").toBe(false);
    } finally {
      d.child.kill("SIGKILL");
    }
  });

  // One demo start for both: a private demo (AUTH=protocol), then its wrangler dev killed.
  it("with AUTH=protocol is a private mirror (the auth.toml printed and in the Julia line's depot, the token in its curls); and it stops when its wrangler dev dies", async () => {
    const { d, port } = await readyDemo({ AUTH: "protocol" });
    try {
      const out = d.output();
      expect(out).toMatch(/^access_token = "pkgedge1\./m);
      expect(out).toMatch(/^refresh_url = "http:\/\/127\.0\.0\.1:\d+\/auth\/refresh"$/m);
      const depot = /JULIA_DEPOT_PATH=(\S+) JULIA_PKG_SERVER=/.exec(out)![1]!;
      expect(existsSync(join(depot, "servers", `127.0.0.1:${port}`, "auth.toml")), "the Julia line's depot holds the auth.toml").toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/registries`)).status).toBe(401);
      // The printed miss-then-hit command carries the token: a MISS, not a 401.
      const line = out.split("\n").find((l) => l.includes("x-cache"))!;
      expect(line).toContain("Authorization: Bearer pkgedge1.");
      expect(execFileSync("bash", ["-c", line.slice(0, line.indexOf("#")).trim()], { encoding: "utf8" }).trim()).toMatch(
        /^x-cache: MISS$/i,
      );

      const wrangler = execFileSync("pgrep", ["-f", `wrangler.* dev .*--port ${port} `], { encoding: "utf8" })
        .trim()
        .split("\n")[0]!;
      // The signing key reached the worker (the token above worked) from a file, not from wrangler's command line.
      expect(execFileSync("ps", ["-o", "args=", "-p", wrangler], { encoding: "utf8" })).not.toContain("AUTH_SIGNING_KEY");
      process.kill(Number(wrangler), "SIGKILL");
      expect(await d.exited).toBe(1);
      expect(d.output()).toContain("wrangler dev exited");
      // Nothing of it is left: neither wrangler nor its workerd (the [x] keeps pgrep's own shell out of the match).
      await until(
        () =>
          !execFileSync(
            "bash",
            ["-c", `pgrep -f "[w]rangler-dist/cli.js dev .*--port ${port} |[s]ocket-addr=entry=127.0.0.1:${port} " || true`],
            { encoding: "utf8" },
          ).trim(),
        10_000,
      );
    } finally {
      d.child.kill("SIGKILL");
    }
  });
});
