/**
 * A binary-mirror fill continued with a ranged GET relies on If-Range alone to know
 * the rest belongs to the same version. An upstream that answers the range without honouring
 * If-Range (a 206 of the new version, with its new ETag) must not be spliced in.
 */

import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { outcome, storedInfo, testWorker, type TestWorker } from "../harness";
import { publishBinaries as publishOn, randomBytes, sha256Hex, UNLISTED, type Published } from "../../shared/binaries.ts";
import type { BucketSettings } from "../../shared/binary-bucket.ts";

const publishBinaries = (settings: BucketSettings = {}) => publishOn(inject("binaryBucketUrl"), settings);
const at = (path: string) => `/mirror/rel/${path}`;
const key = (path: string) => `mirror/rel/${path}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mirrorOf(published: Published, vars: Record<string, string> = {}): TestWorker {
  return testWorker({ BINARY_MIRRORS: `rel=${published.bucket.url}`, UPSTREAM_TIMEOUT_MS: "2000", ...vars });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("continuation against an upstream that ignores If-Range", () => {
  it("a file that changed between the first GET and the ranged GET is not spliced, even when the 206 ignores If-Range", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { FILL_MAX_RESUMPTIONS: "1" });
    await p.bucket.set({ truncate: true, ignoreIfRange: true });
    const old = p.files[UNLISTED]!;
    const res = await m.fetch(at(UNLISTED));
    await sleep(300); // the first half arrived and the connection broke; the ranged GET waits a second
    const replacement = randomBytes(old.length);
    await p.bucket.put(UNLISTED, replacement, "application/octet-stream");
    const got = await outcome(res);
    const asked = (await p.bucket.log()).filter((r) => r.method === "GET" && r.path === UNLISTED);
    expect(
      asked.map((r) => r.headers.range ?? null),
      "a whole GET, then one ranged GET",
    ).toEqual([null, expect.stringMatching(/^bytes=/)]);
    const half = Math.floor(old.length / 2);
    const spliced = new Uint8Array([...old.subarray(0, half), ...replacement.subarray(half)]);
    if (got.clean) {
      expect(await sha256Hex(got.bytes), "a clean 200 served bytes of two versions spliced").not.toBe(await sha256Hex(spliced));
    }
    expect(got.clean, "the transfer must break rather than end with a splice").toBe(false);
    await m.settle();
    const stored = await storedInfo(key(UNLISTED));
    expect(stored, "a splice of two versions was kept in the bucket").toBeNull();
  });

  it("a file republished while its fill was being continued is served in its new version by the next request", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { FILL_MAX_RESUMPTIONS: "1" });
    await p.bucket.set({ truncate: true });
    const res = await m.fetch(at(UNLISTED));
    await sleep(300); // the first half arrived and the connection broke; the ranged GET waits a second
    const replacement = randomBytes(p.files[UNLISTED]!.length);
    await p.bucket.put(UNLISTED, replacement, "application/octet-stream");
    expect((await outcome(res)).clean, "the spliced-or-broken first download breaks").toBe(false);
    await m.settle();
    await p.bucket.set({ truncate: false }); // the bucket is healthy again, with the new version
    const next = await m.fetch(at(UNLISTED));
    const got = await outcome(next);
    expect(got.status, "the next request, with the bucket healthy").toBe(200);
    if (got.clean) expect(await sha256Hex(got.bytes)).toBe(await sha256Hex(replacement));
  });
});
