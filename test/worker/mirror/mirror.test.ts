/**
 * The binary mirror against a fixture bucket (docs/design.md, the binary mirror): every route answers as the
 * bucket does, copies are checked before they are kept, freshness follows the content, and bad
 * input never reaches the upstream or the bucket.
 */

import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { backend, bucketKeys, testWorker, outcome, storedBytes, storedInfo, type TestWorker } from "../harness";
import { r2InOutage } from "../r2-outage";
import type { FillCoordinator } from "../../../worker/fill/coordinator";
import {
  DBVERSION,
  MISSIZED,
  NIGHTLY,
  publishBinaries as publishOn,
  randomBytes,
  RELEASE,
  sha256Hex,
  TAMPERED,
  UNLISTED,
  VERSIONDB,
  type Published,
} from "../../shared/binaries.ts";
import type { BucketSettings } from "../../shared/binary-bucket.ts";
import { MAX_VERSIONS_BYTES } from "../../../worker/mirror/versions";

const publishBinaries = (settings: BucketSettings = {}) => publishOn(inject("binaryBucketUrl"), settings);
const at = (path: string) => `/mirror/rel/${path}`;
const key = (path: string) => `mirror/rel/${path}`;

function mirrorOf(published: Published, vars: Record<string, string> = {}): TestWorker {
  return testWorker({ BINARY_MIRRORS: `rel=${published.bucket.url}`, UPSTREAM_TIMEOUT_MS: "2000", ...vars });
}

async function gets(published: Published, path: string): Promise<number> {
  return (await published.bucket.log()).filter((r) => r.method === "GET" && r.path === path).length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Freshness is a matter of the clock (the worker's and its coordinators' Date): instead of waiting
// out the 1 s TTL, a test moves that clock past it. The clock otherwise runs as usual.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
});
afterEach(() => {
  vi.useRealTimers();
});
const pastTtl = async (ms = 1100) => {
  vi.setSystemTime(Date.now() + ms);
};

describe("routes answer as the mirrored bucket does", () => {
  it("a miss streams the file with the bucket's headers, and the next request is a hit", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const upstream = await fetch(`${p.bucket.url}/${DBVERSION}`);
    await upstream.text();
    const asked = await gets(p, DBVERSION);
    const res = await m.fetch(at(DBVERSION));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-cache-miss")).toBe("miss");
    for (const h of ["content-type", "etag", "last-modified", "content-length"])
      expect(res.headers.get(h), h).toBe(upstream.headers.get(h));
    expect(await res.text()).toBe("1.0.17\n");
    await m.settle();
    const hit = await m.fetch(at(DBVERSION));
    expect(hit.headers.has("x-cache-miss")).toBe(false);
    for (const h of ["content-type", "etag", "last-modified", "content-length"])
      expect(hit.headers.get(h), h).toBe(upstream.headers.get(h));
    expect(await hit.text()).toBe("1.0.17\n");
    expect(await gets(p, DBVERSION)).toBe(asked + 1);
    expect(await storedBytes(key(DBVERSION))).toEqual(p.files[DBVERSION]);
  });

  it("HEAD answers the bucket's headers cold (without filling) and warm", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const cold = await m.fetch(at(RELEASE), { method: "HEAD" });
    expect(cold.status).toBe(200);
    expect(cold.headers.get("content-length")).toBe(String(p.files[RELEASE]!.length));
    expect(cold.headers.get("etag")).toMatch(/^".+"$/);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
    await (await m.fetch(at(RELEASE))).arrayBuffer();
    await m.settle();
    const warm = await m.fetch(at(RELEASE), { method: "HEAD" });
    expect(warm.status).toBe(200);
    expect(warm.headers.get("content-length")).toBe(String(p.files[RELEASE]!.length));
    expect(warm.headers.get("etag")).toBe(cold.headers.get("etag"));
    expect(await warm.text()).toBe("");
  });

  it("If-None-Match with the bucket's ETag is answered 304 from the copy", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const first = await m.fetch(at(RELEASE));
    await first.arrayBuffer();
    await m.settle();
    const again = await m.fetch(at(RELEASE), { headers: { "if-none-match": first.headers.get("etag")! } });
    expect(again.status).toBe(304);
    expect(await gets(p, RELEASE)).toBe(1);
  });

  it("single ranges are cut from a cold fill and from the copy", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const bytes = p.files[RELEASE]!;
    const cold = await m.fetch(at(RELEASE), { headers: { range: "bytes=1000-1999" } });
    expect(cold.status).toBe(206);
    expect(cold.headers.get("content-range")).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(new Uint8Array(await cold.arrayBuffer())).toEqual(bytes.subarray(1000, 2000));
    await m.settle();
    const warm = await m.fetch(at(RELEASE), { headers: { range: "bytes=-100" } });
    expect(warm.status).toBe(206);
    expect(warm.headers.get("content-range")).toBe(`bytes ${bytes.length - 100}-${bytes.length - 1}/${bytes.length}`);
    expect(new Uint8Array(await warm.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 100));
    const beyond = await m.fetch(at(RELEASE), { headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
  });

  it.each([404, 403] as const)("a missing file is answered %i, as the bucket answers, and remembered briefly", async (missing) => {
    const p = await publishBinaries({ missing });
    const m = mirrorOf(p);
    const nothing = "juliaup/versiondb/versiondb-9.9.9-x86_64-unknown-linux-gnu.json";
    expect((await m.fetch(at(nothing))).status).toBe(missing);
    expect((await m.fetch(at(nothing))).status).toBe(missing);
    expect(await gets(p, nothing)).toBe(1);
    expect(await bucketKeys()).toEqual([]);
  });

  it("a file many clients ask for at once is downloaded from the bucket once", async () => {
    const p = await publishBinaries({ bytesPerSecond: 1024 * 1024 });
    const m = mirrorOf(p);
    const results = await Promise.all(Array.from({ length: 8 }, () => m.fetch(at(NIGHTLY)).then(outcome)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.clean && (await sha256Hex(r.bytes))).toBe(await sha256Hex(p.files[NIGHTLY]!));
    }
    expect(await gets(p, NIGHTLY)).toBe(1);
  });

  it("every mirror answer carries nosniff, and a type a browser would render is served as application/octet-stream", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { BINARY_MIRROR_TTL_SECONDS: "1" });
    const page = "juliaup/page.html";
    const picture = "juliaup/picture.svg";
    await p.bucket.put(page, "<script>alert(1)</script>", "text/html");
    await p.bucket.put(picture, "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml");
    for (const round of ["miss", "hit"]) {
      for (const [path, type] of [
        [page, "application/octet-stream"],
        [picture, "application/octet-stream"],
        ["bin/versions.json", "application/json"],
        [DBVERSION, "text/plain"],
      ] as const) {
        const res = await m.fetch(at(path));
        await res.arrayBuffer();
        expect(res.headers.get("content-type"), `${round} ${path}`).toBe(type);
        expect(res.headers.get("x-content-type-options"), `${round} ${path}`).toBe("nosniff");
      }
      await m.settle();
    }
    await p.bucket.set({ down: true });
    await pastTtl();
    const stale = await m.fetch(at(page));
    expect(stale.headers.get("cache-control")).toMatch(/^no-cache/);
    expect(stale.headers.get("content-type")).toBe("application/octet-stream");
    expect(stale.headers.get("x-content-type-options")).toBe("nosniff");
    await stale.arrayBuffer();
    const failed = await m.fetch(at(NIGHTLY));
    expect(failed.status).toBe(502);
    expect(failed.headers.get("x-content-type-options")).toBe("nosniff");
    await failed.arrayBuffer();
  });

  it("the routes exist only for configured mirrors, and not at all with BINARY_MIRRORS empty", async () => {
    const p = await publishBinaries();
    expect((await mirrorOf(p).fetch(`/mirror/other/${DBVERSION}`)).status).toBe(404);
    expect((await mirrorOf(p, { BINARY_MIRRORS: "" }).fetch(at(DBVERSION))).status).toBe(404);
    expect(await p.bucket.log()).toEqual([]);
  });
});

describe("what the publisher lists is checked before it is kept", () => {
  it("a file versions.json lists is committed once its sha256 and size match", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const res = await outcome(await m.fetch(at(RELEASE)));
    expect(res.clean && (await sha256Hex(res.bytes))).toBe(await sha256Hex(p.files[RELEASE]!));
    await m.settle();
    const info = await storedInfo(key(RELEASE));
    expect(info?.customMetadata.sha256).toBe(await sha256Hex(p.files[RELEASE]!));
    expect(await gets(p, "bin/versions.json")).toBe(1);
  });

  it("a file whose bytes are not what versions.json lists breaks the client's download and is never kept", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const res = await outcome(await m.fetch(at(TAMPERED)));
    expect(res.clean, "the download must not end cleanly").toBe(false);
    await m.settle();
    expect(await storedInfo(key(TAMPERED))).toBeNull();
    // The upstream that served it is passed over for this file for a while.
    const again = await m.fetch(at(TAMPERED));
    expect(again.status).toBe(502);
    expect(((await again.json()) as { detail: string }).detail).toMatch(/failed verification/);
  });

  it("a file whose announced length is not the size versions.json lists is refused before a byte is sent", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const res = await m.fetch(at(MISSIZED));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/versions\.json lists/);
    await m.settle();
    expect(await storedInfo(key(MISSIZED))).toBeNull();
  });

  it("a file versions.json does not list is kept after the length check only", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    expect(await (await m.fetch(at(UNLISTED))).text()).toContain("PGP SIGNATURE");
    await m.settle();
    const info = await storedInfo(key(UNLISTED));
    expect(info?.size).toBe(p.files[UNLISTED]!.length);
    expect(info?.customMetadata.sha256).toBeUndefined();
  });

  it("a versions.json too large to index is not read into memory: its files are not filled (502), nothing unchecked is kept", async () => {
    const p = await publishBinaries();
    await p.bucket.generate("bin/versions.json", MAX_VERSIONS_BYTES + 1, 7, "application/json");
    const m = mirrorOf(p);
    const res = await m.fetch(at(RELEASE));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/versions\.json.*more than 8388608/);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });

  it("the cap on versions.json is well under the isolate's 128 MB", () => {
    expect(MAX_VERSIONS_BYTES).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it.each([
    [
      "over the cap",
      async (p: Published) => void (await p.bucket.generate("bin/versions.json", MAX_VERSIONS_BYTES + 1, 7, "application/json")),
    ],
    ["an error page served with 200", (p: Published) => p.bucket.put("bin/versions.json", "<html>Access denied</html>", "text/html")],
    ["cut JSON", (p: Published) => p.bucket.put("bin/versions.json", p.files["bin/versions.json"]!.subarray(0, 100), "application/json")],
  ])("a new versions.json %s is refused: the previous copy is kept and served, and still checks release files", async (_, change) => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { BINARY_MIRROR_TTL_SECONDS: "1" });
    await (await m.fetch(at("bin/versions.json"))).arrayBuffer();
    await m.settle();
    await change(p);
    await pastTtl();
    // A new body streams to the request that found it, and breaks there if it fails its check.
    const kept = await sha256Hex(p.files["bin/versions.json"]!);
    const first = await outcome(await m.fetch(at("bin/versions.json")));
    if (first.clean) expect(await sha256Hex(first.bytes)).toBe(kept);
    await m.settle();
    expect(await sha256Hex((await storedBytes(key("bin/versions.json")))!)).toBe(kept);
    const res = await m.fetch(at("bin/versions.json"));
    expect(res.status).toBe(200);
    expect(await sha256Hex(new Uint8Array(await res.arrayBuffer()))).toBe(kept);
    const release = await outcome(await m.fetch(at(RELEASE)));
    expect(release.clean && (await sha256Hex(release.bytes))).toBe(await sha256Hex(p.files[RELEASE]!));
    await m.settle();
    expect((await storedInfo(key(RELEASE)))?.customMetadata.sha256).toBe(await sha256Hex(p.files[RELEASE]!));
  });

  it("a body cut short of its Content-Length breaks the client's download and is never kept (FILL_MAX_RESUMPTIONS=0)", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { FILL_MAX_RESUMPTIONS: "0" });
    await (await m.fetch(at("bin/versions.json"))).arrayBuffer(); // whole, before the bucket turns bad
    await m.settle();
    await p.bucket.set({ truncate: true });
    for (const path of [UNLISTED, NIGHTLY, DBVERSION, RELEASE]) {
      const res = await outcome(await m.fetch(at(path)));
      expect(res.status, path).toBe(200);
      expect(res.clean, `${path} must not end cleanly`).toBe(false);
    }
    await m.settle();
    expect(await bucketKeys()).toEqual([key("bin/versions.json")]);
  });

  it("a body cut short is continued with a ranged GET of the same version (If-Range), checked and kept", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    await (await m.fetch(at("bin/versions.json"))).arrayBuffer();
    await m.settle();
    await p.bucket.set({ truncate: true }); // whole GETs are cut short; ranged ones are answered
    const res = await outcome(await m.fetch(at(RELEASE)));
    expect(res.clean, "continued, not broken").toBe(true);
    if (res.clean) expect(await sha256Hex(res.bytes)).toBe(await sha256Hex(p.files[RELEASE]!));
    const asked = (await p.bucket.log()).filter((r) => r.method === "GET" && r.path === RELEASE);
    expect(asked.map((r) => r.headers["if-range"] ?? null)).toEqual([null, expect.stringMatching(/^"/)]);
    await m.settle();
    expect((await storedInfo(key(RELEASE)))?.customMetadata.sha256).toBe(await sha256Hex(p.files[RELEASE]!));
  });

  it("a file that changed while its body was being continued is not spliced: the download breaks and nothing is kept", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { FILL_MAX_RESUMPTIONS: "1" }); // one ranged GET (after its one-second pause) is enough to show it
    await p.bucket.set({ truncate: true });
    const res = await m.fetch(at(UNLISTED));
    await sleep(300); // the first half arrived and the connection broke; the ranged GET waits a second
    await p.bucket.put(UNLISTED, randomBytes(p.files[UNLISTED]!.length), "application/octet-stream");
    expect((await outcome(res)).clean).toBe(false);
    await m.settle();
    expect(await storedInfo(key(UNLISTED))).toBeNull();
  });

  it.each([404, 410] as const)("a mirror without versions.json (answered %i) keeps its files after the length check", async (status) => {
    const p = await publishBinaries();
    await p.bucket.remove("bin/versions.json");
    if (status !== 404) await p.bucket.set({ answers: { "bin/versions.json": { status } } });
    const m = mirrorOf(p);
    expect((await outcome(await m.fetch(at(TAMPERED)))).clean).toBe(true);
    await m.settle();
    expect(await storedInfo(key(TAMPERED))).not.toBeNull();
  });

  it.each([
    ["403 (a private list, a WAF, an expired grant)", { missing: 403 }],
    ["401", { answers: { "bin/versions.json": { status: 401 } } }],
    ["429", { answers: { "bin/versions.json": { status: 429 } } }],
  ] as const)(
    "versions.json answered %s is no proof a mirror has none: its files are not filled (502), nothing is kept",
    async (_, settings) => {
      const p = await publishBinaries(settings);
      await p.bucket.remove("bin/versions.json");
      const m = mirrorOf(p);
      for (const path of [TAMPERED, RELEASE]) {
        const res = await m.fetch(at(path));
        expect(res.status, path).toBe(502);
        expect(((await res.json()) as { detail: string }).detail, path).toMatch(/versions\.json/);
      }
      await m.settle();
      expect(await bucketKeys()).toEqual([]);
    },
  );

  it("while versions.json cannot be read, its files are not filled (502), and nothing is kept", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    await p.bucket.set({ down: true });
    const res = await m.fetch(at(RELEASE));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/versions\.json/);
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });
});

describe("once a mirror has had a versions.json, losing it fails closed", () => {
  const NEW = "bin/linux/x64/1.11/julia-1.11.0-linux-x86_64.tar.gz";
  const VARS = { BINARY_MIRROR_TTL_SECONDS: "1", NEGATIVE_TTL_SECONDS: "0", UPSTREAM_FAILURE_TTL_SECONDS: "0" };

  /** A new release appears upstream, with a versions.json listing it. */
  async function release(p: Published): Promise<Uint8Array> {
    const bytes = randomBytes(100 * 1024);
    await p.bucket.put(NEW, bytes, "application/x-gzip");
    const doc = JSON.parse(new TextDecoder().decode(p.files["bin/versions.json"])) as Record<string, unknown>;
    const entry = { url: `https://julialang-s3.julialang.org/${NEW}`, kind: "archive", sha256: await sha256Hex(bytes), size: bytes.length };
    doc["1.11.0"] = { stable: true, files: [entry] };
    await p.bucket.put("bin/versions.json", JSON.stringify(doc), "application/json");
    return bytes;
  }

  it.each([
    ["403 AccessDenied", { status: 403, contentType: "application/xml", body: "<Error><Code>AccessDenied</Code></Error>" }],
    ["a WAF's 403 page", { status: 403, body: "<html><body>Request blocked</body></html>" }],
    ["a 404 page", { status: 404, body: "<html><body>Not Found</body></html>" }],
    ["410", { status: 410 }],
    ["a 429 page", { status: 429, body: "<html><body>Too many requests</body></html>" }],
    ["503", { status: 503, contentType: "application/xml", body: "<Error><Code>SlowDown</Code></Error>" }],
  ])(
    "versions.json answering %s: its copy is served stale, a release file it does not list is not filled, fills resume verified once it is back",
    async (_, answer) => {
      const p = await publishBinaries();
      const m = mirrorOf(p, VARS);
      const kept = await sha256Hex(p.files["bin/versions.json"]!);
      await (await m.fetch(at("bin/versions.json"))).arrayBuffer();
      await m.settle();
      await p.bucket.set({ answers: { "bin/versions.json": answer } });
      const bytes = await release(p);
      await pastTtl();

      const stale = await m.fetch(at("bin/versions.json"));
      expect(stale.status).toBe(200);
      expect(stale.headers.get("cache-control")).toMatch(/^no-cache/);
      expect(await sha256Hex(new Uint8Array(await stale.arrayBuffer()))).toBe(kept);
      const refused = await m.fetch(at(NEW));
      expect(refused.status).toBe(502);
      expect(refused.headers.get("retry-after")).not.toBeNull();
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/versions\.json.*does not list/);
      // What the copy lists is still filled, and checked against it.
      const listed = await outcome(await m.fetch(at(RELEASE)));
      expect(listed.clean && (await sha256Hex(listed.bytes))).toBe(await sha256Hex(p.files[RELEASE]!));
      await m.settle();
      expect(await storedInfo(key(NEW))).toBeNull();
      expect(await sha256Hex((await storedBytes(key("bin/versions.json")))!)).toBe(kept);
      expect((await storedInfo(key(RELEASE)))?.customMetadata.sha256).toBe(await sha256Hex(p.files[RELEASE]!));

      await p.bucket.set({ answers: {} });
      const back = await outcome(await m.fetch(at(NEW)));
      expect(back.clean && (await sha256Hex(back.bytes))).toBe(await sha256Hex(bytes));
      await m.settle();
      expect((await storedInfo(key(NEW)))?.customMetadata.sha256).toBe(await sha256Hex(bytes));
    },
  );

  it("a new isolate finds the mirror's copy in the bucket: versions.json refused upstream still fails closed", async () => {
    const p = await publishBinaries();
    const first = mirrorOf(p, VARS);
    await (await first.fetch(at("bin/versions.json"))).arrayBuffer();
    await first.settle();
    await p.bucket.set({ answers: { "bin/versions.json": { status: 403, body: "<html>denied</html>" } } });
    await release(p);
    await pastTtl();
    const fresh = mirrorOf(p, VARS); // another isolate: nothing in memory
    const refused = await fresh.fetch(at(NEW));
    expect(refused.status).toBe(502);
    await fresh.settle();
    expect(await storedInfo(key(NEW))).toBeNull();
    expect(await storedInfo(key("bin/versions.json"))).not.toBeNull();
  });

  it("a 403 never removes a copy: it is served stale", async () => {
    const p = await publishBinaries({ missing: 403 });
    const m = mirrorOf(p, { BINARY_MIRROR_TTL_SECONDS: "1" });
    await (await m.fetch(at(NIGHTLY))).arrayBuffer();
    await m.settle();
    await p.bucket.remove(NIGHTLY);
    await pastTtl();
    const res = await m.fetch(at(NIGHTLY));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/^no-cache/);
    expect(await sha256Hex(new Uint8Array(await res.arrayBuffer()))).toBe(await sha256Hex(p.files[NIGHTLY]!));
    await m.settle();
    expect(await storedInfo(key(NIGHTLY))).not.toBeNull();
  });
});

describe("a copy that is not what versions.json now lists is filled again", () => {
  const TTL = { BINARY_MIRROR_TTL_SECONDS: "1" };
  const LATE = "bin/linux/x64/1.11/julia-1.11.0-linux-x86_64.tar.gz";

  /** Publishes `bytes` under `path` and a versions.json listing them. */
  async function republish(p: Published, path: string, bytes: Uint8Array): Promise<void> {
    await p.bucket.put(path, bytes, "application/x-gzip");
    const doc = JSON.parse(new TextDecoder().decode(p.files["bin/versions.json"])) as Record<string, { files: unknown[] }>;
    const entry = {
      url: `https://julialang-s3.julialang.org/${path}`,
      kind: "archive",
      sha256: await sha256Hex(bytes),
      size: bytes.length,
    };
    doc["1.10.4"]!.files = doc["1.10.4"]!.files.filter((f) => (f as { url: string }).url !== entry.url);
    doc["1.11.0"] = { files: [entry] };
    await p.bucket.put("bin/versions.json", JSON.stringify(doc), "application/json");
  }

  /** The first hit after the TTL refreshes the index in the background; the next one is compared with it. */
  async function afterRefresh(m: TestWorker, path: string): Promise<Uint8Array | null> {
    await (await m.fetch(at(path))).arrayBuffer();
    await m.settle();
    const res = await outcome(await m.fetch(at(path)));
    return res.clean ? res.bytes : null;
  }

  it("a release re-uploaded under the same name is filled again, checked against the new sha256", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(RELEASE))).arrayBuffer();
    await m.settle();
    const next = randomBytes(250 * 1024);
    await republish(p, RELEASE, next);
    await pastTtl();
    const served = await afterRefresh(m, RELEASE);
    expect(served && (await sha256Hex(served))).toBe(await sha256Hex(next));
    await m.settle();
    expect((await storedInfo(key(RELEASE)))?.customMetadata.sha256).toBe(await sha256Hex(next));
    expect(await sha256Hex((await storedBytes(key(RELEASE)))!)).toBe(await sha256Hex(next));
    // Agreeing again: hits, no more downloads.
    const before = await gets(p, RELEASE);
    await (await m.fetch(at(RELEASE))).arrayBuffer();
    expect(await gets(p, RELEASE)).toBe(before);
  });

  it("a release file kept before versions.json listed it is filled again once it is listed with another sha256", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await p.bucket.put(LATE, randomBytes(90 * 1024), "application/x-gzip");
    await (await m.fetch(at(LATE))).arrayBuffer();
    await m.settle();
    expect((await storedInfo(key(LATE)))?.customMetadata.sha256).toBeUndefined();
    const listed = randomBytes(110 * 1024);
    await republish(p, LATE, listed);
    await pastTtl();
    const served = await afterRefresh(m, LATE);
    expect(served && (await sha256Hex(served))).toBe(await sha256Hex(listed));
    await m.settle();
    expect((await storedInfo(key(LATE)))?.customMetadata.sha256).toBe(await sha256Hex(listed));
  });

  it("a copy that disagrees is not served while the upstream cannot give the listed bytes, and stays in place", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(RELEASE))).arrayBuffer();
    await m.settle();
    const next = randomBytes(250 * 1024);
    await republish(p, RELEASE, next);
    await p.bucket.put(RELEASE, randomBytes(250 * 1024), "application/x-gzip"); // not what the list says
    await pastTtl();
    const served = await afterRefresh(m, RELEASE);
    expect(served === null || (await sha256Hex(served)) !== (await sha256Hex(p.files[RELEASE]!))).toBe(true);
    await m.settle();
    const again = await m.fetch(at(RELEASE));
    expect(again.status).toBe(502);
    await again.arrayBuffer();
    expect(await sha256Hex((await storedBytes(key(RELEASE)))!)).toBe(await sha256Hex(p.files[RELEASE]!));
  });
});

describe("freshness follows the content", () => {
  const TTL = { BINARY_MIRROR_TTL_SECONDS: "1" };

  it("a changed nightly is served only after the TTL, and then at once", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    const first = await outcome(await m.fetch(at(NIGHTLY)));
    await m.settle();
    const next = randomBytes(200 * 1024);
    await p.bucket.put(NIGHTLY, next, "application/x-gzip");
    const before = await outcome(await m.fetch(at(NIGHTLY)));
    expect(before.clean && before.bytes).toEqual(first.clean && first.bytes);
    await pastTtl();
    const after = await outcome(await m.fetch(at(NIGHTLY)));
    expect(after.clean && (await sha256Hex(after.bytes))).toBe(await sha256Hex(next));
    await m.settle();
    expect(await storedBytes(key(NIGHTLY))).toEqual(next);
    const hit = await m.fetch(at(NIGHTLY));
    expect(hit.headers.has("x-cache-miss")).toBe(false);
    expect(hit.headers.get("cache-control")).toMatch(/max-age=[01],/);
  });

  it("If-Range: a range applies only to the version the client holds part of (RFC 9110 §13.1.5)", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    const first = await m.fetch(at(NIGHTLY));
    const old = new Uint8Array(await first.arrayBuffer());
    await m.settle();
    const etag = first.headers.get("etag")!;
    const same = await m.fetch(at(NIGHTLY), { headers: { range: "bytes=0-99", "if-range": etag } });
    expect(same.status).toBe(206);
    expect(new Uint8Array(await same.arrayBuffer())).toEqual(old.subarray(0, 100));
    // A nightly can be replaced within a second, so its Last-Modified is no strong validator.
    const byDate = await m.fetch(at(NIGHTLY), { headers: { range: "bytes=0-99", "if-range": first.headers.get("last-modified")! } });
    expect(byDate.status).toBe(200);
    expect(new Uint8Array(await byDate.arrayBuffer())).toEqual(old);

    // The nightly is replaced: a client resuming the old version gets the new one whole, whether
    // pkgedge still serves its copy or is filling the new one.
    const next = randomBytes(150 * 1024);
    await p.bucket.put(NIGHTLY, next, "application/x-gzip");
    await pastTtl();
    const resumed = await m.fetch(at(NIGHTLY), { headers: { range: "bytes=100-", "if-range": etag } });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.has("content-range")).toBe(false);
    expect(await sha256Hex(new Uint8Array(await resumed.arrayBuffer()))).toBe(await sha256Hex(next));
    await m.settle();
    const again = await m.fetch(at(NIGHTLY), { headers: { range: "bytes=100-", "if-range": etag } });
    expect(again.status).toBe(200);
    expect(again.headers.get("etag")).not.toBe(etag);
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(next);
  });

  it("a slow reader of a copy replaced while it reads gets a broken download, never two versions spliced", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { ...TTL, FILL_WINDOW_BYTES: String(64 * 1024) });
    const old = p.files[NIGHTLY]!;
    const reader = (await m.fetch(at(NIGHTLY))).body!.getReader();
    const parts: Uint8Array[] = [(await reader.read()).value!];
    // The fill runs on past the reader's 64 KiB window and commits; the reader is moved onto the bucket.
    while (!(await storedInfo(key(NIGHTLY)))) await sleep(50);
    // The nightly changes, and a request after the TTL fills and commits the new version.
    const next = randomBytes(old.length); // the same size: a span of the old object fits the new one
    await p.bucket.put(NIGHTLY, next, "application/x-gzip");
    await pastTtl();
    const fresh = await outcome(await m.fetch(at(NIGHTLY)));
    expect(fresh.clean && fresh.bytes).toEqual(next);
    // A read of the bucket while the new version is being written may break (the S3 server replaces
    // the file under it): that read says nothing yet, so look again.
    const committed = (b: Uint8Array | null) => b?.length === next.length && b[0] === next[0] && b[1] === next[1];
    while (!(await storedBytes(key(NIGHTLY)).then(committed, () => false))) await sleep(50);
    let clean = true;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    } catch {
      clean = false;
    }
    const got = new Uint8Array(await new Blob(parts).arrayBuffer());
    if (clean) expect(await sha256Hex(got)).toBe(await sha256Hex(old)); // whole and old, or broken
    await m.settle();
  });

  it("If-Range with a release's Last-Modified lets the range apply: a versioned file never changes", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const first = await m.fetch(at(RELEASE));
    await first.arrayBuffer();
    await m.settle();
    const res = await m.fetch(at(RELEASE), { headers: { range: "bytes=0-99", "if-range": first.headers.get("last-modified")! } });
    expect(res.status).toBe(206);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(p.files[RELEASE]!.subarray(0, 100));
  });

  it("a HEAD after the TTL sees the changed file's headers, and its new copy is filled", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(NIGHTLY))).arrayBuffer();
    await m.settle();
    const next = randomBytes(123_456);
    await p.bucket.put(NIGHTLY, next, "application/x-gzip");
    await pastTtl();
    const head = await m.fetch(at(NIGHTLY), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("123456");
    expect(await head.text()).toBe("");
    await m.settle();
    expect(await storedBytes(key(NIGHTLY))).toEqual(next);
  });

  it("an unchanged file is revalidated with its ETag, answered 304, and not asked about again within the TTL", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { BINARY_MIRROR_TTL_SECONDS: "2" });
    const first = await m.fetch(at(DBVERSION));
    await first.text();
    await m.settle();
    await pastTtl(2100);
    expect(await (await m.fetch(at(DBVERSION))).text()).toBe("1.0.17\n");
    const log = (await p.bucket.log()).filter((r) => r.path === DBVERSION);
    expect(log.map((r) => [r.status, r.headers["if-none-match"] ?? null])).toEqual([
      [200, null],
      [304, first.headers.get("etag")],
    ]);
    await m.fetch(at(DBVERSION)).then((r) => r.text());
    expect((await p.bucket.log()).filter((r) => r.path === DBVERSION).length).toBe(2);
  });

  it("a stale copy is served while the bucket is down, and never cached by clients", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at("bin/versions.json"))).text();
    await m.settle();
    await p.bucket.set({ down: true });
    await pastTtl();
    const res = await m.fetch(at("bin/versions.json"));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/^no-cache/);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(p.files["bin/versions.json"]);
  });

  it("a changed file whose new body is cut short leaves the old copy in place", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { ...TTL, FILL_MAX_RESUMPTIONS: "0" }); // a new body that breaks for good
    await (await m.fetch(at(NIGHTLY))).arrayBuffer();
    await m.settle();
    await p.bucket.put(NIGHTLY, randomBytes(100 * 1024), "application/x-gzip");
    await p.bucket.set({ truncate: true });
    await pastTtl();
    expect((await outcome(await m.fetch(at(NIGHTLY)))).clean).toBe(false);
    await m.settle();
    expect(await storedBytes(key(NIGHTLY))).toEqual(p.files[NIGHTLY]);
  });

  it("a file the bucket removed is gone from the mirror after the TTL", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(NIGHTLY))).arrayBuffer();
    await m.settle();
    await p.bucket.remove(NIGHTLY);
    await pastTtl();
    expect((await m.fetch(at(NIGHTLY))).status).toBe(404);
    await m.settle();
    expect(await storedInfo(key(NIGHTLY))).toBeNull();
  });

  it.skipIf(backend === "s3")("a removed file whose copy the bucket fails to delete is still answered as the bucket answers", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(NIGHTLY))).arrayBuffer();
    await m.settle();
    // The coordinators' own R2 binding goes down; the worker's still answers.
    for (const id of await listDurableObjectIds(env.FILLS)) {
      await runInDurableObject(env.FILLS.get(id), (coordinator: FillCoordinator) => {
        const own = coordinator as unknown as { env: Env };
        own.env = { ...own.env, BUCKET: r2InOutage() };
      });
    }
    await p.bucket.remove(NIGHTLY);
    await pastTtl();
    const warnings = vi.spyOn(console, "warn");
    try {
      const res = await m.fetch(at(NIGHTLY));
      expect(res.status).toBe(404);
      const events = warnings.mock.calls.map((c) => JSON.parse(String(c[0])).event);
      expect(events).toContain("mirror_remove_failed");
    } finally {
      warnings.mockRestore();
    }
    await m.settle();
    expect(await storedInfo(key(NIGHTLY))).not.toBeNull(); // kept until a delete succeeds
  });

  it("a versioned release file is never revalidated, and may be cached by clients for a year", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, TTL);
    await (await m.fetch(at(RELEASE))).arrayBuffer();
    await m.settle();
    await pastTtl();
    const hit = await m.fetch(at(RELEASE));
    expect(hit.headers.get("cache-control")).toMatch(/immutable/);
    await hit.arrayBuffer();
    expect(await gets(p, RELEASE)).toBe(1);
  });

  it("files that can change may be cached by clients no longer than the TTL", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p, { BINARY_MIRROR_TTL_SECONDS: "600" });
    const miss = await m.fetch(at(VERSIONDB));
    expect(miss.headers.get("cache-control")).toBe("public, max-age=600, no-transform");
    await miss.text();
    await m.settle();
    const hit = await m.fetch(at(VERSIONDB));
    const maxAge = Number(/max-age=(\d+)/.exec(hit.headers.get("cache-control") ?? "")?.[1]);
    expect(maxAge).toBeGreaterThan(590);
    expect(maxAge).toBeLessThanOrEqual(600);
  });
});

describe("bad input never reaches the upstream or the bucket", () => {
  // Dot segments (`..`, `.`, `%2e%2e`) and backslashes never arrive: the runtime resolves them
  // while parsing the URL, as curl does before sending (the parser's own tests cover them raw).
  const BAD = [
    "/mirror/rel/bin//versions.json",
    "/mirror/rel/bin%2Fversions.json",
    "/mirror/rel/bin/%2E%2E%2Fx",
    "/mirror/rel/bin/versions.json;x",
    "/mirror/rel/bin/versions.json%00",
    "/mirror/rel/bin/ver%73ions.json",
    "/mirror/rel/",
    "/mirror/rel",
    `/mirror/rel/${"a".repeat(600)}`,
    "/mirror/rel/http:%2F%2Fevil.example/x",
    "/mirror/rel/@evil.example",
  ];

  it.each(BAD)("%s is a 404", async (path) => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    const res = await m.fetch(path);
    expect(res.status).toBe(404);
    await m.settle();
    expect(await p.bucket.log()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  });

  it("a path with dot segments is resolved before pkgedge sees it, and stays inside the mirror it names", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    expect(await (await m.fetch(`/mirror/rel/bin/../${DBVERSION}`)).text()).toBe("1.0.17\n");
    expect((await m.fetch("/mirror/rel/../../robots.txt")).status).toBe(200); // the robots route, not the bucket
    expect((await p.bucket.log()).map((r) => r.path)).toEqual([DBVERSION]);
  });

  it("methods other than GET and HEAD are refused (405) without touching anything", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await m.fetch(at(DBVERSION), { method, body: method === "DELETE" ? undefined : "x" });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
    expect(await p.bucket.log()).toEqual([]);
  });

  it("a query string is not passed upstream", async () => {
    const p = await publishBinaries();
    const m = mirrorOf(p);
    expect(await (await m.fetch(`${at(DBVERSION)}?x=../../secret`)).text()).toBe("1.0.17\n");
    expect((await p.bucket.log()).map((r) => r.path)).toEqual([DBVERSION]);
  });
});
