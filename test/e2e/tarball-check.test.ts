/**
 * infra/lib/tarball.ts, the check the operator tools run before they store or remove a tarball:
 * which outcomes refute a name (grounds to remove a stored copy) and which only leave it unchecked.
 */

import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyTarball, workerVerifyLimits } from "../../infra/lib/tarball.ts";
import { parseResourcePath } from "../../worker/protocol/paths.ts";
import { gitTreeHash, tarGz, writeTree } from "../fixtures/tarballs.ts";

const dir = mkdtempSync(join(tmpdir(), "pkgedge-tarball-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeTree(join(dir, "tree"), { "a.txt": "a\n", "b/c.txt": "c\n", "d.txt": "d\n" });
const file = join(dir, "tree.tar.gz");
tarGz(join(dir, "tree"), file);
const hash = gitTreeHash(join(dir, "tree"));
const artifact = (h: string) => parseResourcePath(`/artifact/${h}`)!;
const limits = workerVerifyLimits({});

describe("verifyTarball", () => {
  it("accepts a tarball under its own tree hash, from a file or a stream", async () => {
    expect(await verifyTarball(file, artifact(hash), limits)).toEqual({ ok: true });
    expect(await verifyTarball(new Blob([readFileSync(file)]).stream(), artifact(hash), limits)).toEqual({ ok: true });
  });

  it("refutes a name the bytes do not hash to, and bytes that are not a gzipped tarball", async () => {
    const wrong = await verifyTarball(file, artifact("a".repeat(40)), limits);
    expect(wrong).toMatchObject({ ok: false, refuted: true, reason: "tree hash mismatch" });
    const junk = join(dir, "junk");
    for (const bytes of ["", "<html>502 Bad Gateway</html>", readFileSync(file).subarray(0, 40)]) {
      writeFileSync(junk, bytes);
      expect(await verifyTarball(junk, artifact(hash), limits), JSON.stringify(bytes.length)).toMatchObject({ ok: false, refuted: true });
    }
  });

  it("leaves undecided what a limit stopped or a local failure prevented: never a refutation", async () => {
    const entries = await verifyTarball(file, artifact(hash), { ...limits, maxEntries: 2 });
    expect(entries).toMatchObject({ ok: false, refuted: false });
    expect(entries.ok || entries.reason).toMatch(/VERIFY_MAX_ENTRIES/);
    const bytes = await verifyTarball(file, artifact(hash), { ...limits, maxDecompressedBytes: 100 });
    expect(bytes).toMatchObject({ ok: false, refuted: false });
    expect(await verifyTarball(join(dir, "no-such-file"), artifact(hash), limits)).toMatchObject({ ok: false, refuted: false });
  });
});

describe("workerVerifyLimits", () => {
  it("is the worker's defaults, each replaced by the variable of the same name", () => {
    expect(workerVerifyLimits({})).toEqual({
      maxEntries: 250_000,
      maxRatio: 200,
      maxDecompressedBytes: 24 * 1024 ** 3,
      maxWindowBytes: 32 * 1024 ** 2,
    });
    expect(workerVerifyLimits({ FILL_MAX_BYTES: "1000" }).maxDecompressedBytes).toBe(2000);
    const set = { VERIFY_MAX_ENTRIES: "7", VERIFY_MAX_RATIO: "9", VERIFY_MAX_DECOMPRESSED_BYTES: "11", ZSTD_MAX_WINDOW_BYTES: "2097152" };
    expect(workerVerifyLimits(set)).toEqual({ maxEntries: 7, maxRatio: 9, maxDecompressedBytes: 11, maxWindowBytes: 2 * 1024 ** 2 });
    expect(() => workerVerifyLimits({ VERIFY_MAX_RATIO: "lots" })).toThrow(/VERIFY_MAX_RATIO/);
  });

  it("reads each variable as the worker does: blank is unset, spaces are trimmed, the table's bounds hold", () => {
    expect(workerVerifyLimits({ VERIFY_MAX_ENTRIES: "  " }).maxEntries).toBe(250_000);
    expect(workerVerifyLimits({ VERIFY_MAX_ENTRIES: " 7 " }).maxEntries).toBe(7);
    expect(() => workerVerifyLimits({ FILL_MAX_BYTES: "12GiB" })).toThrow(/FILL_MAX_BYTES: expected a whole number/);
    expect(() => workerVerifyLimits({ VERIFY_MAX_RATIO: "1" })).toThrow(/VERIFY_MAX_RATIO: expected a whole number from 2/);
    expect(() => workerVerifyLimits({ VERIFY_MAX_ENTRIES: "99999999999" })).toThrow(/VERIFY_MAX_ENTRIES/);
  });
});
