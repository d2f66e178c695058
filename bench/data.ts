/**
 * Benchmark data, built once and kept under bench/out/ (ignored by git): gzipped tarballs shaped
 * like real artifacts — large, partly compressible binaries plus many small text files, an
 * executable and symlinks — with their tree hash computed by git.
 */

import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { gitTreeHash, tarGz } from "../test/fixtures/tarballs.ts";
import { REPO } from "../test/fixtures/wrangler-dev.ts";

const OUT = join(REPO, "bench", "out");
const MiB = 1024 * 1024;

export interface BenchTarball {
  file: string;
  /** Compressed size in bytes. */
  size: number;
  /** Uncompressed payload in bytes (the files' contents). */
  payload: number;
  treeHash: string;
  entries: number;
}

/**
 * Binary-like bytes: about half random, half repetitive, so gzip gets roughly 2:1 as on real
 * artifacts; or all random (incompressible), for large objects built quickly.
 */
function contentBytes(size: number, compressible: boolean): Buffer {
  if (!compressible) return randomBytes(size);
  const out = Buffer.alloc(size);
  const block = 4096;
  for (let offset = 0; offset < size; offset += block) {
    const n = Math.min(block, size - offset);
    if ((offset / block) % 2 === 0) randomBytes(n).copy(out, offset);
    else out.fill(`pkgedge-${offset % 977} `, offset, offset + n);
  }
  return out;
}

/** A tarball an earlier run built (its record, and the file still of the size recorded), or null. */
function builtBefore(meta: string): BenchTarball | null {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(meta)) return null;
  const known = JSON.parse(readFileSync(meta, "utf8")) as BenchTarball;
  return existsSync(known.file) && statSync(known.file).size === known.size ? known : null;
}

function benchTarball(name: string, payloadMiB: number, options: { compressible?: boolean } = {}): BenchTarball {
  const compressible = options.compressible ?? true;
  const meta = join(OUT, `${name}.json`);
  const known = builtBefore(meta);
  if (known) return known;
  const dir = join(OUT, `${name}-tree`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "lib"), { recursive: true });
  mkdirSync(join(dir, "share", "doc"), { recursive: true });
  mkdirSync(join(dir, "bin"), { recursive: true });
  const bigFiles = Math.max(1, Math.round(payloadMiB / 10));
  let payload = 0;
  let entries = 0;
  for (let i = 0; i < bigFiles; i++) {
    const bytes = contentBytes(Math.round((payloadMiB * MiB) / bigFiles), compressible);
    writeFileSync(join(dir, "lib", `libbig-${String(i).padStart(3, "0")}.so`), bytes);
    payload += bytes.length;
    entries++;
  }
  for (let i = 0; i < 2000; i++) {
    const text = `Page ${i}\n`.repeat(200 + (i % 50));
    writeFileSync(join(dir, "share", "doc", `page-${String(i).padStart(4, "0")}.txt`), text);
    payload += text.length;
    entries++;
  }
  writeFileSync(join(dir, "bin", "tool"), "#!/bin/sh\necho tool\n");
  chmodSync(join(dir, "bin", "tool"), 0o755);
  symlinkSync("libbig-000.so", join(dir, "lib", "libbig.so"));
  entries += 2;
  const file = join(OUT, `${name}.tar.gz`);
  console.log(`  building ${file} (${payloadMiB} MiB of content; once, then reused)…`);
  tarGz(dir, file, { format: "gnu", level: compressible ? 6 : 1 });
  const result: BenchTarball = { file, size: statSync(file).size, payload, treeHash: gitTreeHash(dir), entries };
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(meta, JSON.stringify(result));
  return result;
}

/** The tarballs the benchmarks use (built once each). */
export const artifact300MB = () => benchTarball("artifact-300mb", 600);
export const artifact32MB = () => benchTarball("artifact-32mb", 64);
export const artifact1GiB = () => benchTarball("artifact-1gib", 1024, { compressible: false });
/** Package-sized tarballs (about 1 MB and 8 MB gzipped): the same shape, served under /package/. */
export const package1MB = () => benchTarball("package-1mb", 1.8);
export const package8MB = () => benchTarball("package-8mb", 15);

/**
 * A tarball made to resemble a real JLL artifact: this machine's own shared libraries (real
 * machine code, as a JLL's lib/ holds) and documentation text, about `payloadMiB` of them, in the
 * lib/, share/doc/ layout JLLs have. The files depend on the machine's packages, so sizes are
 * comparable within a run, not across machines.
 */
export function jllLike(payloadMiB = 120): BenchTarball {
  const name = `jll-like-${payloadMiB}`;
  const meta = join(OUT, `${name}.json`);
  const known = builtBefore(meta);
  if (known) return known;
  const dir = join(OUT, `${name}-tree`);
  rmSync(dir, { recursive: true, force: true });
  let payload = 0;
  let entries = 0;
  const take = (from: string, to: string, budget: number, accept: (file: string) => boolean) => {
    let taken = 0;
    const walk = (at: string) => {
      for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (taken >= budget) return;
        const full = join(at, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() && accept(entry.name)) {
          const target = join(to, relative(from, full));
          mkdirSync(dirname(target), { recursive: true });
          copyFileSync(full, target);
          taken += statSync(full).size;
          entries++;
        }
      }
    };
    walk(from);
    payload += taken;
  };
  take("/usr/lib/x86_64-linux-gnu", join(dir, "lib"), payloadMiB * 0.85 * MiB, (f) => /\.so(\.|$)/.test(f));
  take("/usr/share/doc", join(dir, "share", "doc"), payloadMiB * 0.15 * MiB, (f) => !f.endsWith(".gz"));
  const file = join(OUT, `${name}.tar.gz`);
  console.log(`  building ${file} (${(payload / MiB).toFixed(0)} MiB of this machine's libraries and docs; once, then reused)…`);
  tarGz(dir, file, { format: "gnu", level: 6 });
  const result: BenchTarball = { file, size: statSync(file).size, payload, treeHash: gitTreeHash(dir), entries };
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(meta, JSON.stringify(result));
  return result;
}
