/**
 * `npm run dev [-- FLAGS]`: the mirror under `wrangler dev`, on 127.0.0.1 port 8787 (wrangler.toml
 * `[dev]`), its local bucket under .wrangler/state. Any `wrangler dev` flag passes through and wins
 * over these defaults (`npm run dev -- --port 8796`); `PORT=8796 npm run dev` works too. Each
 * request is logged once, by pkgedge (LOG_FORMAT=text in the local configuration).
 */

import { passThrough, spawnWrangler } from "./lib/tools.ts";

/** `flag VALUE` added unless the caller gave the flag (as `--flag V` or `--flag=V`). */
function withDefault(args: string[], flag: string, value: string): string[] {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`)) ? args : [...args, flag, value];
}

let args = process.argv.slice(2);
const port = process.env.PORT?.trim();
if (port) {
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    console.error(`✗ PORT: expected a port number from 1 to 65535, got ${JSON.stringify(process.env.PORT)}`);
    process.exit(2);
  }
  args = withDefault(args, "--port", port);
}
args = withDefault(args, "--persist-to", ".wrangler/state");
args = withDefault(args, "--show-interactive-dev-session", "false");

// wrangler prints its own line per request ("[wrangler:info] GET /meta 200 OK (3ms)") beside
// pkgedge's access-log line, which says more (the cache outcome, the size, the upstream): one line
// per request is easier to read, so wrangler's is left out. Everything else passes through.
const WRANGLER_REQUEST_LINE = /^\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ \d{3} /;

// Offline, every request for an upstream prints the local runtime's own red block for its failed DNS
// lookup ("✘ [ERROR] e = rust/worker/ffi.rs:…: failed to lookup address information", then a
// stack of addresses), which reads as a crash. pkgedge's own line says the same in words
// ("DNS lookup failed for …"), so the block is left out: its first line and the lines after it up
// to the next one that is neither blank nor part of the stack.
const RUNTIME_DNS_BLOCK = /^✘ \[ERROR\] e = \S+: failed: failed to lookup address information/;

/** Lines of wrangler's output left out: its request line, and the runtime's DNS blocks (above). */
function dropper(): (plain: string) => boolean {
  let inBlock = false;
  return (plain) => {
    if (inBlock && (plain.trim() === "" || plain.startsWith("  stack: "))) return true;
    inBlock = RUNTIME_DNS_BLOCK.test(plain);
    return inBlock || WRANGLER_REQUEST_LINE.test(plain);
  };
}

const child = spawnWrangler(["dev", ...args], { stdio: ["inherit", "pipe", "pipe"] });
passThrough(child.stdout!, process.stdout, dropper());
passThrough(child.stderr!, process.stderr, dropper());
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
