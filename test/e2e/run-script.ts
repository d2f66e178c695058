/** Runs one of the project's Node scripts (infra/…) as its own process and collects what it printed. */

import { outputOf, spawnNode } from "../../infra/lib/tools.ts";

export function runScript(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  // Asynchronously: these tests' fixture servers live in this process and must keep answering.
  return outputOf(spawnNode(script, args, { env, stdio: ["ignore", "pipe", "pipe"] }));
}
