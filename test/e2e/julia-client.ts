/**
 * Finding and running a real Julia client for the end-to-end tests, as users have it:
 * PKGEDGE_JULIA (a julia binary), else `julia` on PATH, else the pinned 1.5.3 install
 * (../shared/tools/julia.sh). Each run gets a fresh depot.
 */

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { REPO } from "../fixtures/wrangler-dev.ts";

const JULIA_SH = process.env.PKGEDGE_JULIA_SH ?? resolve(REPO, "../shared/tools/julia.sh");
const JULIA_ROOT = process.env.JULIA_ROOT ?? "/opt/julia-1.5";
function juliaOnPath(): string | undefined {
  try {
    return execFileSync("bash", ["-c", "command -v julia"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A plain julia binary (PKGEDGE_JULIA, e.g. GitHub Actions' setup-julia, or one on PATH), used with a fresh depot like julia.sh does. */
const JULIA_BIN = process.env.PKGEDGE_JULIA || juliaOnPath();
export const haveJulia = JULIA_BIN ? existsSync(JULIA_BIN) : existsSync(JULIA_SH) && existsSync(join(JULIA_ROOT, "usr/bin/julia"));

if (!haveJulia) {
  const why = `Julia end-to-end tests SKIPPED: no Julia (set PKGEDGE_JULIA to a julia binary, put julia on PATH, or: bash ${JULIA_SH} install)`;
  if (process.env.CI) throw new Error(`${why}. CI must run them.`);
  console.warn(`\n*** ${why} ***\n`);
}

/**
 * `--compile=min`: Debian's Julia 1.5.3 build segfaults in libunwind when it unwinds some of the
 * exceptions Pkg throws and catches itself (every artifact install throws one: `rm(...; force=true)`
 * of a missing `.sha256`). Interpreting instead of JIT-compiling avoids the bad unwind tables; Pkg's
 * logic, downloads and tree-hash checks are the same.
 */
export function julia(server: string, script: string): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun) => {
    const depot = JULIA_BIN ? mkdtempSync(join(tmpdir(), "pkgedge-depot-")) : "";
    const child = JULIA_BIN
      ? spawn(JULIA_BIN, ["--compile=min", "-e", script], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, JULIA_DEPOT_PATH: depot, JULIA_PKG_SERVER: server },
        })
      : spawn("bash", [JULIA_SH, "run", server, "--compile=min", "-e", script], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, JULIA_ROOT },
        });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => {
      if (depot) rmSync(depot, { recursive: true, force: true });
      resolveRun({ code: code ?? -1, output });
    });
  });
}

/**
 * What the end-to-end tests have Pkg do: add a package and a JLL (its artifact), load the package,
 * and print what the test checks (`HELLO=`, `JULIA_VERSION=`, `ARTIFACT=`), then `more`.
 */
export function installScript(artifactHash: string, more = ""): string {
  return `
    using Pkg
    Pkg.add("Example")
    Pkg.add("Hello_jll")
    using Example
    println("HELLO=", Example.hello("pkgedge"))
    println("JULIA_VERSION=", VERSION)
    println("ARTIFACT=", Pkg.Artifacts.artifact_exists(Base.SHA1("${artifactHash}")))
    ${more}
  `;
}
