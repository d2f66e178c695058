/**
 * zstd for Julia 1.13 clients, through `wrangler dev`: what Pkg 1.13 does is send
 * `Accept-Encoding: zstd, gzip` on tarball URLs, sniff the magic bytes of what it got, and unpack
 * zstd with the `zstd` command. Here that command (Debian's) is the judge: the variant pkgedge
 * serves must decode, checksum included, to exactly the tar the gzip tarball holds.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { createUpstream, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { pkgHeaders } from "./pkg-client.ts";

const manifest = inject("manifest");
const EXAMPLE = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

let up: Upstream;
let dev: WranglerDev;
let scratch: string;

beforeAll(async () => {
  up = await createUpstream(manifest.controlUrl, {});
  scratch = mkdtempSync(join(tmpdir(), "pkgedge-zstd-"));
  dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: up.url, PREFETCH: "off" }, persistTo: join(scratch, "state") });
});

afterAll(async () => {
  await dev?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string>): Promise<{ res: Response; body: Buffer }> {
  const res = await fetch(dev.url + path, { headers });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

/** Decodes with the zstd command, as Pkg 1.13 unpacks (`zstd -d`), checking the frame checksums. */
function zstdDecode(bytes: Buffer): Buffer {
  const file = join(scratch, `variant-${Date.now()}.tar.zst`);
  writeFileSync(file, bytes);
  execFileSync("zstd", ["-t", "-q", file]);
  return execFileSync("zstd", ["-d", "-c", "-q", file], { maxBuffer: 256 * 1024 * 1024 });
}

/** GETs `path` as Julia 1.13 until the answer is zstd (the variant is made after the first answer). */
async function zstdAnswer(path: string): Promise<{ res: Response; body: Buffer }> {
  for (let i = 0; i < 50; i++) {
    const got = await get(path, pkgHeaders(dev.url, path));
    if (got.body.subarray(0, 4).equals(Buffer.from(ZSTD_MAGIC))) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${path}: no zstd answer within 10 s`);
}

describe("a Julia 1.13 client through wrangler dev", () => {
  for (const [what, path] of [
    ["a package", EXAMPLE],
    ["an artifact with an executable, a symlink and an empty directory", manifest.artifact],
    ["a 12 MiB artifact (a multipart variant)", manifest.largeArtifact],
    ["a registry", manifest.snapshots[0]!],
  ] as const) {
    it(`gets gzip for ${what} first, then zstd that the zstd command decodes to the gzip's own tar`, async () => {
      const first = await get(path, pkgHeaders(dev.url, path));
      expect(first.res.status).toBe(200);
      expect([...first.body.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
      expect(first.res.headers.get("vary")).toBe("accept-encoding");

      const { res, body } = await zstdAnswer(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/zstd");
      expect(res.headers.has("content-encoding")).toBe(false);
      expect(res.headers.get("content-length")).toBe(String(body.length));
      expect(zstdDecode(body).equals(gunzipSync(first.body)), "the same tar").toBe(true);

      // A client that does not ask (Julia 1.12 and older, curl) still gets the gzip bytes.
      const plain = await get(path, {});
      expect(plain.body.equals(first.body)).toBe(true);
    });
  }

  it("logged the variants it made, and asked the upstream for each resource once", async () => {
    const made = dev
      .output()
      .split("\n")
      .filter((l) => l.includes('"event":"zstd_made"'));
    expect(made.length).toBeGreaterThanOrEqual(4);
    const gets = (await up.log()).filter((r) => r.method === "GET");
    expect(new Set(gets.map((r) => r.path)).size).toBe(gets.length);
  });
});
