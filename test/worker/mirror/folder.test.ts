/**
 * `/mirror/<name>/bin/`: juliaup's nightly-server check (`HEAD <server>/bin/` must carry an ETag),
 * answered by pkgedge without asking the bucket.
 */

import { describe, expect, inject, it } from "vitest";
import { testWorker } from "../harness";
import { NIGHTLY, publishBinaries } from "../../shared/binaries.ts";

describe("a mirror's bin/ folder", () => {
  it("answers HEAD and GET with 200 and a stable ETag, without a request to the bucket", async () => {
    const p = await publishBinaries(inject("binaryBucketUrl"));
    const m = testWorker({ BINARY_MIRRORS: `nightly=${p.bucket.url},other=${p.bucket.url}/x` });
    const before = (await p.bucket.log()).length;
    const head = await m.fetch("/mirror/nightly/bin/", { method: "HEAD" });
    expect(head.status).toBe(200);
    const etag = head.headers.get("etag");
    expect(etag).toMatch(/^"[^"]+"$/);
    const get = await m.fetch("/mirror/nightly/bin/");
    expect(get.status).toBe(200);
    expect(get.headers.get("etag")).toBe(etag);
    expect(await get.text()).toContain(`${p.bucket.url}/bin/`);
    // Another mirror's folder has its own validator.
    const other = await m.fetch("/mirror/other/bin/", { method: "HEAD" });
    expect(other.headers.get("etag")).not.toBe(etag);
    expect((await p.bucket.log()).length, "the bucket was not asked").toBe(before);
  });

  it("is only the bin/ folder of a configured mirror: other folders and unknown mirrors are 404", async () => {
    const p = await publishBinaries(inject("binaryBucketUrl"));
    const m = testWorker({ BINARY_MIRRORS: `nightly=${p.bucket.url}` });
    for (const path of [
      "/mirror/unknown/bin/",
      "/mirror/nightly/bin/linux/",
      "/mirror/nightly/",
      "/mirror/nightly/bin//",
      "/mirror/nightly/BIN/",
    ]) {
      expect((await m.fetch(path, { method: "HEAD" })).status, path).toBe(404);
    }
    // The files under it are served as before.
    expect((await m.fetch(`/mirror/nightly/${NIGHTLY}`, { method: "HEAD" })).status).toBe(200);
  });
});
