/**
 * Registry freshness (protocol.md §5.2; C48–C50): at most a minute behind upstream (the cron trigger),
 * never backwards, never advertising what cannot be served, and in order under concurrency.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { backend, manifest, testWorker, type TestWorker, storedInfo, storedText, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const snap = (i: number) => manifest.snapshots[i]!;
const list = (i: number) => `${snap(i)}\n`;
const hashOf = (i: number) => manifest.objects[snap(i)]!.treeHash;

const published = (flavor = "conservative") => storedText(`registries.${flavor}`);
const state = async () => JSON.parse((await storedText("_pkgedge/registries.conservative.json"))!);

async function meta(m: TestWorker): Promise<any> {
  return (await m.fetch("/meta")).json();
}

describe("the cron trigger", () => {
  it("publishes both flavors with no request, and follows upstream on every run", async () => {
    const up = await upstream({ lists: { conservative: list(0), eager: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_TTL_SECONDS: "3600" });
    await m.scheduled();
    expect(await published("conservative")).toBe(list(0));
    expect(await published("eager")).toBe(list(1));
    await up.reconfigure({ lists: { conservative: list(1), eager: list(2) } });
    await m.scheduled(); // a minute later: no TTL to wait for
    expect(await published("conservative")).toBe(list(1));
    expect(await published("eager")).toBe(list(2));
    await m.settle();
  });
});

describe("never backwards", () => {
  it("does not follow an upstream that rolls back to a hash pkgedge moved past, and warns", async () => {
    const warn = vi.spyOn(console, "warn");
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    await up.reconfigure({ lists: { conservative: list(0) } }); // rollback
    await m.scheduled();
    expect(await published()).toBe(list(1));
    expect(warn.mock.calls.some((c) => String(c[0]).includes('"registry_upstream_backwards"'))).toBe(true);
    // And still moves forward afterwards.
    await up.reconfigure({ lists: { conservative: list(2) } });
    await m.scheduled();
    expect(await published()).toBe(list(2));
    await m.settle();
  });

  it("stays on the newer hash when both upstreams go back to an older one it never published (C48, C49)", async () => {
    // A lists snapshot 2 and has snapshot 1; B lists snapshot 1 and lacks snapshot 2.
    const a = await upstream({ lists: { conservative: list(1) } });
    const b = await upstream({ lists: { conservative: list(0) }, only: [snap(0)] });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    expect(await published()).toBe(list(1)); // C48
    await a.reconfigure({ lists: { conservative: list(0) } });
    await m.scheduled();
    expect(await published()).toBe(list(1)); // C49: snapshot 1 was never published, yet it is older
    await m.settle();
  });

  it("advances on a single upstream that keeps every old snapshot", async () => {
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    for (const i of [0, 1, 2]) {
      await up.reconfigure({ lists: { conservative: list(i) } });
      await m.scheduled();
      expect(await published()).toBe(list(i));
    }
    expect((await state()).superseded[manifest.registryUuid]).toEqual([hashOf(0), hashOf(1)]);
    await m.settle();
  });
});

describe("never unservable", () => {
  it.each([
    ["missing everywhere", { only: [] as string[] }],
    ["corrupt everywhere", { faults: {} as Record<string, "wrong-bytes"> }],
  ])("never publishes an advertised snapshot whose tarball is %s (C50)", async (_, broken) => {
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await m.scheduled();
    const config = "only" in broken ? { only: [snap(0)] } : { faults: { [snap(1)]: "wrong-bytes" as const } };
    await up.reconfigure({ lists: { conservative: list(1) }, ...config });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    expect(await storedInfo(snap(1).slice(1))).toBeNull();
    const info = await meta(m);
    expect(info.registries.conservative.last_error).toContain(snap(1));
    await m.settle();
  });

  it("takes the next candidate when the newest cannot be stored", async () => {
    // A advertises snapshot 3 (corrupt everywhere); B advertises snapshot 2; both have snapshot 1.
    const a = await upstream({ lists: { conservative: list(2) }, faults: { [snap(2)]: "wrong-bytes" } });
    const b = await upstream({ lists: { conservative: list(1) }, only: [snap(0), snap(1)] });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    await m.settle();
  });
});

describe("stale-if-error", () => {
  it("keeps serving the published list through an upstream outage, with its age visible", async () => {
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await m.scheduled();
    const before = await meta(m);
    await new Promise((r) => setTimeout(r, 20));
    // The same bucket, seen from a deployment whose upstream is down (connection refused).
    const down = testWorker({ UPSTREAM_SERVERS: "http://127.0.0.1:9", REGISTRY_TTL_SECONDS: "1" });
    await down.scheduled();
    const res = await down.fetch("/registries.conservative");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(list(0));
    expect(res.headers.get("last-modified")).toBeTruthy();
    const info = await meta(down);
    const c = info.registries.conservative;
    expect(c.published_at).toBe(before.registries.conservative.published_at);
    expect(c.last_check_at).toBe(before.registries.conservative.last_check_at);
    expect(Date.parse(c.last_attempt_at)).toBeGreaterThan(Date.parse(c.last_check_at));
    expect(c.last_error).toMatch(/127\.0\.0\.1:9/);
    await down.settle();
  });
});

// Ordering under concurrency rests on compare-and-swap writes, which the local S3 server ignores
// (AWS S3, R2's S3 API and MinIO honour If-Match / If-None-Match); so these run against R2 only.
describe.skipIf(backend === "s3")("concurrency", () => {
  it("publishes overlapping refreshes in order: a slower refresh never overwrites a newer list", async () => {
    const up = await upstream({ lists: { conservative: list(0) } });
    const first = testWorker({ UPSTREAM_SERVERS: up.url });
    const second = testWorker({ UPSTREAM_SERVERS: up.url }); // another isolate: its own memory, the same bucket
    await first.scheduled();
    // Refresh A sees snapshot 2, whose tarball arrives slowly.
    await up.reconfigure({ lists: { conservative: list(1) }, faults: { [snap(1)]: "slow" } });
    const slow = first.scheduled();
    await new Promise((r) => setTimeout(r, 300));
    // Meanwhile upstream moves on to snapshot 3, and refresh B publishes it first.
    await up.reconfigure({ lists: { conservative: list(2) }, faults: { [snap(1)]: "slow" } });
    await second.scheduled();
    expect(await published()).toBe(list(2));
    await slow; // A's write was based on a stale read: it must not land
    expect(await published()).toBe(list(2));
    expect((await state()).superseded[manifest.registryUuid]).toEqual([hashOf(0)]);
    await first.settle();
    await second.settle();
  });

  it("lets only one of two simultaneous refreshes publish", async () => {
    const up = await upstream({ lists: { conservative: list(1) } });
    const a = testWorker({ UPSTREAM_SERVERS: up.url });
    const b = testWorker({ UPSTREAM_SERVERS: up.url });
    const info = vi.spyOn(console, "log");
    await Promise.all([a.scheduled(), b.scheduled()]);
    expect(await published()).toBe(list(1));
    const publishes = info.mock.calls.filter(
      (c) => String(c[0]).includes('"registry_published"') && String(c[0]).includes('"conservative"'),
    );
    expect(publishes.length).toBe(1);
    await a.settle();
    await b.settle();
  });
});

describe("request-driven revalidation", () => {
  it("does not refresh on a request when any isolate checked within the TTL", async () => {
    const up = await upstream({ lists: { conservative: list(0) } });
    await testWorker({ UPSTREAM_SERVERS: up.url }).scheduled();
    const listReads = async () => (await up.log()).filter((r) => r.path.startsWith("/registries")).length;
    const before = await listReads();
    const fresh = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_TTL_SECONDS: "60" }); // a new isolate
    expect(await (await fresh.fetch("/registries.conservative")).text()).toBe(list(0));
    await fresh.settle();
    expect(await listReads()).toBe(before);
  });
});
