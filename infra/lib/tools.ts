/**
 * Running the project's own tools (wrangler, node) from node_modules/.bin, for the operator
 * scripts, the tests and the benchmarks. That directory goes first on PATH, so wrangler runs on
 * the Node 22 npm installed (it refuses older ones), and wrangler is kept off the network unless
 * the caller needs it (a deploy).
 */

import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type SpawnSyncOptionsWithStringEncoding } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { stripVTControlCharacters } from "node:util";
import { OFFLINE_ENV, REPO } from "../repo.ts";

const BIN = join(REPO, "node_modules", ".bin");

export interface ToolOptions {
  /** Variables added to this process's environment. */
  env?: Record<string, string>;
  /** Keep wrangler off the network (OFFLINE_ENV); default true. */
  offline?: boolean;
}

/** Quiet even when wrangler may use the network (a deploy): no telemetry, no banner. */
const QUIET_ENV = { WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" };

function environment(options: ToolOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...(options.offline === false ? QUIET_ENV : OFFLINE_ENV), ...options.env, PATH: `${BIN}:${process.env.PATH}` };
}

/**
 * Copies a child's output line by line to ours, leaving out the lines `drop` picks (compared
 * without colour codes): wrangler's hints that do not apply, the local runtime's noise.
 */
export function passThrough(from: Readable, to: NodeJS.WriteStream, drop: (plain: string) => boolean): void {
  createInterface({ input: from, crlfDelay: Infinity }).on("line", (line) => {
    if (!drop(stripVTControlCharacters(line))) to.write(`${line}\n`);
  });
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
