/**
 * Running the project's own tools (wrangler, node) from node_modules/.bin, for the operator
 * scripts, the tests and the benchmarks. That directory goes first on PATH, so wrangler runs on
 * the Node 22 npm installed (it refuses older ones), and wrangler is kept off the network unless
 * the caller needs it (a deploy).
 */

import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type SpawnSyncOptionsWithStringEncoding } from "node:child_process";
import { join } from "node:path";
import { OFFLINE_ENV, REPO } from "../repo.ts";

const BIN = join(REPO, "node_modules", ".bin");

export interface ToolOptions {
  /** Variables added to this process's environment. */
  env?: Record<string, string>;
  /** Keep wrangler off the network (OFFLINE_ENV); default true. */
  offline?: boolean;
}

function environment(options: ToolOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...(options.offline === false ? {} : OFFLINE_ENV), ...options.env, PATH: `${BIN}:${process.env.PATH}` };
}

/** Starts `wrangler ARGS` in the repository (asynchronously: a caller's servers keep answering). */
export function spawnWrangler(args: string[], options: Omit<SpawnOptions, "env"> & ToolOptions = {}): ChildProcess {
  const { env, offline, ...spawnOptions } = options;
  return spawn(join(BIN, "wrangler"), args, { cwd: REPO, ...spawnOptions, env: environment({ env, offline }) });
}

/** Runs `wrangler ARGS` to the end; its output as text. */
export function runWranglerSync(args: string[], options: Omit<Partial<SpawnSyncOptionsWithStringEncoding>, "env"> & ToolOptions = {}) {
  const { env, offline, ...spawnOptions } = options;
  return spawnSync(join(BIN, "wrangler"), args, { cwd: REPO, encoding: "utf8", ...spawnOptions, env: environment({ env, offline }) });
}

/** Starts one of the project's Node scripts (a path inside the repository) on the Node npm installed. */
export function spawnNode(script: string, args: string[], options: Omit<SpawnOptions, "env"> & ToolOptions = {}): ChildProcess {
  const { env, offline, ...spawnOptions } = options;
  return spawn(join(BIN, "node"), [join(REPO, script), ...args], { cwd: REPO, ...spawnOptions, env: environment({ env, offline }) });
}

/** Collects what a child prints (stdout and stderr, interleaved) until it exits. */
export function outputOf(child: ChildProcess): Promise<{ code: number; output: string }> {
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, output })));
}
