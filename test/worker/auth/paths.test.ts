/** Paths that name a protected route some other way are protected too, or not routes at all. */

import { describe, expect, it } from "vitest";
import { manifest, testWorker, upstream } from "../harness";

const KEY = "k".repeat(40);

describe("AUTH=protocol and unusual spellings of protected paths", () => {
  it("never answers a protected resource without a token, however the path is written", async () => {
    const up = await upstream({ lists: { conservative: `${manifest.snapshots[0]}\n`, eager: `${manifest.snapshots[0]}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, AUTH: "protocol", AUTH_SIGNING_KEY: KEY });
    const pkg = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
    const spellings = [
      "/registries",
      "/registr%69es",
      "/%72egistries",
      "//registries",
      "/registries/",
      "/registries.eager",
      "/registries.%65ager",
      pkg,
      pkg.replace("/package/", "/p%61ckage/"),
      pkg.replace("/package/", "//package/"),
      `${pkg}/`,
      `/artifact/${"a".repeat(40)}`,
      "/mirror/julialang2/bin/",
      "/mirror/julialang2/bin/versions.json",
      "/mirr%6fr/julialang2/bin/versions.json",
    ];
    for (const path of spellings) {
      for (const method of ["GET", "HEAD"]) {
        const res = await m.fetch(path, { method, redirect: "manual" });
        expect([401, 404], `${method} ${path}: ${res.status}`).toContain(res.status);
        await res.body?.cancel();
      }
    }
    // The plain spellings are refused for want of a token (not merely unknown).
    for (const path of ["/registries", pkg, "/mirror/julialang2/bin/versions.json", "/mirror/julialang2/bin/"]) {
      expect((await m.fetch(path)).status, path).toBe(401);
    }
    expect((await up.log()).length, "nothing was asked of the upstream").toBe(0);
  });
});
