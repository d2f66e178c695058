/**
 * The binary mirror as installers use it, through `wrangler dev`: juliaup's request sequence with
 * JULIAUP_SERVER=<pkgedge>/mirror/julialang2 (its source: the channel's DBVERSION pointer, the
 * version database it names for the host triple, then the UrlPath of the channel's version), and
 * jill's and setup-julia's (bin/versions.json, then the path of the chosen file's url, checked
 * against its sha256 and size). Cold, warm, and after a restart on the same persisted bucket.
 * juliaup's nightly channel with JULIAUP_NIGHTLY_SERVER=<pkgedge>/mirror/julialangnightlies: the
 * server check (`HEAD bin/` must carry an ETag), the nightly tarball, and `juliaup update`'s HEAD
 * of it, whose ETag must be the one the download had.
 * juliaup and jill themselves are not installed here; these are their requests, made the same way.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../shared/manifest.ts";
import { NIGHTLY, publishBinaries, RELEASE, type Published } from "../shared/binaries.ts";
import { startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";

let published: Published;
let dev: WranglerDev;
let persistTo: string;

const start = () =>
  startWranglerDev({
    vars: { BINARY_MIRRORS: `julialang2=${published.bucket.url},julialangnightlies=${published.bucket.url}` },
    persistTo,
  });

beforeAll(async () => {
  published = await publishBinaries(inject("binaryBucketUrl"), {}, 2 * 1024 * 1024);
  persistTo = mkdtempSync(join(tmpdir(), "pkgedge-e2e-binaries-"));
  dev = await start();
});

afterAll(async () => {
  await dev?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

interface Got {
  url: string;
  status: number;
  miss: boolean;
  bytes: Buffer;
}

async function get(url: string): Promise<Got> {
  const res = await fetch(url, { headers: { "user-agent": "pkgedge-e2e (as juliaup/jill)" } });
  return { url, status: res.status, miss: res.headers.get("x-cache-miss") === "miss", bytes: Buffer.from(await res.arrayBuffer()) };
}

/** juliaup update + add of a channel (release, lts), as src/operations.rs does it (Url::join on a base ending in /). */
async function juliaup(server: string, channel = "release"): Promise<Got[]> {
  const base = new URL(server.endsWith("/") ? server : `${server}/`);
  const pointer = await get(new URL("juliaup/RELEASECHANNELDBVERSION", base).href);
  expect(pointer.status).toBe(200);
  const dbversion = pointer.bytes.toString().trim();
  expect(dbversion).toMatch(/^\d+\.\d+\.\d+$/);
  const db = await get(new URL(`juliaup/versiondb/versiondb-${dbversion}-x86_64-unknown-linux-gnu.json`, base).href);
  expect(db.status).toBe(200);
  const versions = JSON.parse(db.bytes.toString()) as {
    AvailableVersions: Record<string, { UrlPath: string }>;
    AvailableChannels: Record<string, { Version: string }>;
  };
  const release = versions.AvailableVersions[versions.AvailableChannels[channel]!.Version]!;
  const tarball = await get(new URL(release.UrlPath, base).href);
  expect(tarball.status).toBe(200);
  expect(tarball.bytes.equals(Buffer.from(published.files[release.UrlPath]!)), "juliaup's tarball is the bucket's").toBe(true);
  return [pointer, db, tarball];
}

/**
 * juliaup add nightly with a custom nightly server (src/utils.rs check_server_supports_nightlies,
 * then the nightly's tarball), and `juliaup update`'s check of it (a HEAD whose ETag is compared
 * with the one the download had).
 */
async function juliaupNightly(server: string): Promise<void> {
  const base = new URL(`${server}/`);
  const check = await fetch(new URL("bin/", base), { method: "HEAD" });
  expect(check.headers.get("etag"), "juliaup installs nightlies only when this HEAD carries an ETag").toBeTruthy();
  expect(check.status).toBe(200);
  const download = await get(new URL(NIGHTLY, base).href);
  expect(download.status).toBe(200);
  expect(download.bytes.equals(Buffer.from(published.files[NIGHTLY]!))).toBe(true);
  const downloaded = (await fetch(new URL(NIGHTLY, base), { method: "HEAD" })).headers.get("etag");
  const update = await fetch(new URL(NIGHTLY, base), { method: "HEAD" });
  expect(update.status).toBe(200);
  expect(update.headers.get("etag"), "an unchanged nightly is not offered as an update").toBe(downloaded);
  expect(update.headers.get("etag")).toBeTruthy();
}

/** jill / setup-julia: versions.json, the newest stable linux x86_64 archive, checked as they check it. */
async function jill(server: string): Promise<Got[]> {
  const index = await get(`${server}/bin/versions.json`);
  expect(index.status).toBe(200);
  const versions = JSON.parse(index.bytes.toString()) as Record<
    string,
    { stable: boolean; files: { url: string; os: string; arch: string; kind: string; sha256: string; size: number }[] }
  >;
  const [, newest] = Object.entries(versions)
    .filter(([, v]) => v.stable)
    .sort(([a], [b]) => b.localeCompare(a, undefined, { numeric: true }))[0]!;
  const file = newest.files.find((f) => f.os === "linux" && f.arch === "x86_64" && f.kind === "archive")!;
  // jill's mirror setting and setup-julia behind a rewrite fetch the url's path from the mirror.
  const tarball = await get(`${server}${new URL(file.url).pathname}`);
  expect(tarball.status).toBe(200);
  expect(tarball.bytes.length).toBe(file.size);
  expect(createHash("sha256").update(tarball.bytes).digest("hex")).toBe(file.sha256);
  return [index, tarball];
}

/** Waits until each URL is a hit (the bucket write finishes just after the response): HEAD on a copy has no X-Cache-Miss. */
async function committed(urls: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const url of urls) {
    while ((await fetch(url, { method: "HEAD" })).headers.get("x-cache-miss") === "miss") {
      if (Date.now() > deadline) throw new Error(`${url} was not committed within 15 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("installers through wrangler dev", () => {
  it("juliaup's whole flow is served, cold then warm", async () => {
    const server = `${dev.url}/mirror/julialang2`;
    const cold = await juliaup(server);
    expect(cold.map((g) => g.miss)).toEqual([true, true, true]);
    await committed(cold.map((g) => g.url));
    const warm = await juliaup(server);
    expect(warm.map((g) => g.miss)).toEqual([false, false, false]);
  });

  it("juliaup's lts channel and its nightly channel through JULIAUP_NIGHTLY_SERVER are served", async () => {
    await juliaup(`${dev.url}/mirror/julialang2`, "lts");
    await juliaupNightly(`${dev.url}/mirror/julialangnightlies`);
  });

  it("jill with a sources.json naming the mirror: the URL its template makes for a release is served", async () => {
    // jill builds download URLs from its source's template, not from versions.json's url (jill.py
    // jill/config/sources.json: "urls": [".../bin/$sys/$arch/$minor_version/$filename"]).
    const template = `${dev.url}/mirror/julialang2/bin/$sys/$arch/$minor_version/$filename`;
    const url = template
      .replace("$sys", "linux")
      .replace("$arch", "x64")
      .replace("$minor_version", "1.10")
      .replace("$filename", "julia-1.10.4-linux-x86_64.tar.gz");
    const got = await get(url);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(Buffer.from(published.files[RELEASE]!))).toBe(true);
  });

  it("jill's and setup-julia's flow is served and the tarball matches versions.json", async () => {
    const server = `${dev.url}/mirror/julialang2`;
    await committed((await jill(server)).map((g) => g.url));
    const warm = await jill(server);
    expect(warm.map((g) => g.miss)).toEqual([false, false]);
  });

  it("a restart on the same persisted bucket serves everything from it without asking the bucket again", async () => {
    await dev.stop();
    dev = await start();
    const before = (await published.bucket.log()).length;
    const warm = await juliaup(`${dev.url}/mirror/julialang2`);
    expect(warm.map((g) => g.miss)).toEqual([false, false, false]);
    expect((await published.bucket.log()).length).toBe(before);
  });

  it("only configured mirrors answer", async () => {
    expect((await get(`${dev.url}/mirror/unconfigured/bin/versions.json`)).status).toBe(404);
    expect((await fetch(`${dev.url}/mirror/unconfigured/bin/`, { method: "HEAD" })).status).toBe(404);
  });
});
