/** Runs one of the project's Node scripts (infra/…) as its own process and collects what it printed. */

import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../fixtures/wrangler-dev.ts";

export function runScript(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // Asynchronously: these tests' fixture servers live in this process and must keep answering.
    const child = spawn(join(REPO, "node_modules", ".bin", "node"), [join(REPO, script), ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}
