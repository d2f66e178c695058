import { describe, expect, it } from "vitest";
import { answerRemovesCopy, copyLifetimeSeconds, freshUntil, isFresh, isImmutableFile } from "../../../worker/mirror/freshness";

describe("the freshness rule", () => {
  it.each([
    "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz",
    "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz.asc",
    "bin/winnt/x64/1.11/julia-1.11.0-rc2-win64.exe",
    "bin/mac/aarch64/1.9/julia-1.9.0-beta2-macaarch64.dmg",
    "bin/checksums/julia-1.10.4.sha256",
  ])("keeps the versioned release file %s for good", (path) => {
    expect(isImmutableFile(path)).toBe(true);
  });

  it.each([
    "bin/versions.json",
    "juliaup/DBVERSION",
    "juliaup/RELEASECHANNELDBVERSION",
    "juliaup/versiondb/versiondb-1.17.4-x86_64-unknown-linux-gnu.json",
    "bin/linux/x64/1.11/julia-latest-linux64.tar.gz",
    "bin/linux/x86_64/julia-9a8f4c7a3e-linux-x86_64.tar.gz",
    "bin/linux/x64/julia-1.12.0-DEV-linux-x86_64.tar.gz",
    "bin/linux/x64/1.10/latest/julia-1.10.4-linux-x86_64.tar.gz.latest",
    "bin/linux/x64/1.10/julia-nightly-1.10.4.tar.gz",
    "README",
  ])("revalidates %s", (path) => {
    expect(isImmutableFile(path)).toBe(false);
  });
});

describe("how long a copy is served before the upstream is asked again", () => {
  it.each([
    ["a versioned release file", "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz", 600, Infinity],
    ["its signature", "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz.asc", 60, Infinity],
    ["versions.json", "bin/versions.json", 600, 600],
    ["a nightly", "bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz", 600, 600],
    ["a -DEV build", "bin/linux/x64/julia-1.12.0-DEV-linux-x86_64.tar.gz", 30, 30],
    ["a juliaup database", "juliaup/versiondb/versiondb-1.17.4-x86_64-unknown-linux-gnu.json", 86400, 86400],
  ])("%s (%s) with a TTL of %i s: %d s", (_, path, ttl, lifetime) => {
    expect(copyLifetimeSeconds(path, ttl)).toBe(lifetime);
  });

  it.each([
    ["fetched at 1000 ms, for 600 s: until 601000 ms", 1000, 600, 601_000],
    ["fetched at 0, for 1 s: until 1000 ms", 0, 1, 1000],
    ["fetched at 5000 ms, for good: until Infinity", 5000, Infinity, Infinity],
  ])("%s", (_, since, lifetime, until) => {
    expect(freshUntil(since, lifetime)).toBe(until);
  });

  it.each([
    ["a copy fresh until 2000 ms still is at 1999", 2000, 1999, true],
    ["a copy fresh until 2000 ms no longer is at 2000", 2000, 2000, false],
    ["a copy fresh until 2000 ms no longer is at 2001", 2000, 2001, false],
    ["a copy never found current (0) is not fresh", 0, 1, false],
    ["a copy fresh for good always is", Infinity, Number.MAX_SAFE_INTEGER, true],
  ])("%s", (_, until, now, fresh) => {
    expect(isFresh(until as number, now as number)).toBe(fresh);
  });
});

describe("which answers remove a copy", () => {
  it.each([
    ["bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz", 404, true],
    ["bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz", 410, true],
    ["bin/linux/x86_64/julia-latest-linux-x86_64.tar.gz", 403, false],
    ["juliaup/RELEASECHANNELDBVERSION", 401, false],
    ["juliaup/RELEASECHANNELDBVERSION", 451, false],
    ["bin/versions.json", 404, false],
    ["bin/versions.json", 410, false],
    ["bin/versions.json", 403, false],
  ])("%s answered %i: %s", (path, status, removes) => {
    expect(answerRemovesCopy(path, status)).toBe(removes);
  });
});
