import { describe, expect, it } from "vitest";
import { bucketKeys, fixtureBytes, manifest, testWorker, storedBytes, storedInfo, upstream } from "../harness";

const [snap1, snap2] = [() => manifest.snapshots[0]!, () => manifest.snapshots[1]!];
const LINE = /^\/registry\/[0-9a-f-]{36}\/[0-9a-f]{40}$/;

describe("registry list on a fresh deployment", () => {
  it("fetches the list, stores the registry tarball, then serves the list from the bucket (C6, C7, C11)", async () => {
    const up = await upstream({ lists: { conservative: `${snap1()}\n`, eager: `${snap2()}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    for (const [flavor, snap] of [
      ["conservative", snap1()],
      ["eager", snap2()],
    ] as const) {
      const res = await m.fetch(`/registries.${flavor}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      const body = await res.text();
      expect(body).toBe(`${snap}\n`);
      expect(body.endsWith("\n")).toBe(true);
      for (const line of body.trimEnd().split("\n")) expect(line).toMatch(LINE);
      expect(body).toContain(manifest.registryUuid);
      // The tarball it names is already in the bucket, byte for byte.
      expect(await storedBytes(snap.slice(1))).toEqual(await fixtureBytes(snap));
    }
    await m.settle();
    const keys = await bucketKeys();
    expect(keys).toContain("registries.conservative");
    expect(keys).toContain("registries.eager");

    // Within the TTL the list comes from the bucket: upstream sees no more list requests.
    const before = (await up.log()).length;
    const again = await m.fetch("/registries.conservative");
    expect(await again.text()).toBe(`${snap1()}\n`);
    await m.settle();
    expect((await up.log()).length).toBe(before);
  });

  it("stores the registry tarball from the next upstream when the fastest one's bytes are bad, and publishes the list", async () => {
    const bad = await upstream({ lists: { conservative: `${snap1()}\n` }, faults: { [snap1()]: "corrupt-gzip" } });
    const good = await upstream({ lists: { conservative: `${snap1()}\n` }, headDelayMs: 200 });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}` });
    const res = await m.fetch("/registries.conservative");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`${snap1()}\n`);
    expect(await storedBytes(snap1().slice(1))).toEqual(await fixtureBytes(snap1()));
    expect((await bad.log()).filter((r) => r.method === "GET" && r.path === snap1()).length, "the bad upstream was tried first").toBe(1);
    await m.settle();
  });

  it("carries Content-Length, ETag, Last-Modified and a short Cache-Control; HEAD matches (C8)", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: `${snap1()}\n` } })).url });
    const get = await m.fetch("/registries.conservative");
    const body = await get.text();
    expect(get.headers.get("content-length")).toBe(String(body.length));
    expect(get.headers.get("etag")).toMatch(/^"[^"]+"$/);
    expect(Date.parse(get.headers.get("last-modified")!)).not.toBeNaN();
    const maxAge = Number(/max-age=(\d+)/.exec(get.headers.get("cache-control") ?? "")?.[1]);
    expect(maxAge).toBeLessThanOrEqual(60);
    const head = await m.fetch("/registries.conservative", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect(head.headers.get("content-length")).toBe(get.headers.get("content-length"));
    expect(await head.text()).toBe("");
    const cached = await m.fetch("/registries.conservative", { headers: { "if-none-match": get.headers.get("etag")! } });
    expect(cached.status).toBe(304);
    await m.settle();
  });

  it("follows /registries to the list a client's headers select (C10)", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: `${snap1()}\n`, eager: `${snap2()}\n` } })).url });
    const pkgHeaders = {
      "Julia-Pkg-Protocol": "1.0",
      "Julia-Version": "1.13.0",
      "Julia-CI-Variables": "CI=t",
      "Julia-Interactive": "false",
    };
    const redirect = await m.fetch("/registries", { headers: pkgHeaders, redirect: "manual" });
    const list = await m.fetch(redirect.headers.get("location")!, { headers: pkgHeaders });
    expect(await list.text()).toBe(`${snap2()}\n`);
    await m.settle();
  });

  it("answers 502 and publishes nothing when no upstream can provide a list", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: {} })).url });
    const res = await m.fetch("/registries.conservative");
    expect(res.status).toBe(502);
    expect(res.headers.get("cache-control")).toBe("no-store");
    // An outage, not an absence: the client may ask again shortly, and /meta names the failure.
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { key: string }).key).toBe("registries.conservative");
    const failures = ((await (await m.fetch("/meta")).json()) as { upstream_failures?: { key: string }[] }).upstream_failures;
    expect(failures?.map((f) => f.key)).toContain("registries.conservative");
    await m.settle();
    expect((await bucketKeys()).filter((k) => k.startsWith("registries"))).toEqual([]);
  });

  it("never advertises a registry whose tarball it could not store (E11)", async () => {
    const up = await upstream({ lists: { conservative: `${snap2()}\n` }, only: [] });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    expect((await m.fetch("/registries.conservative")).status).toBe(502);
    await m.settle();
    expect(await bucketKeys()).not.toContain("registries.conservative");
  });

  it("builds both flavors from a flavourless upstream (E7)", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { flavourless: `${snap2()}\n` } })).url });
    expect(await (await m.fetch("/registries.eager")).text()).toBe(`${snap2()}\n`);
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap2()}\n`);
    await m.settle();
  });

  it("drops lines that are not exact registry lines from an upstream list (protocol.md §8.3)", async () => {
    const hostile = `/registry/NOT-A-UUID/${"a".repeat(40)}\n${snap1()}\n/registry/${manifest.registryUuid}/zz\n<html>\n`;
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: hostile } })).url });
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap1()}\n`);
    await m.settle();
  });
});

describe("revalidation", () => {
  it("serves the stored list at once and picks up an upstream update in the background after the TTL", async () => {
    const up = await upstream({ lists: { conservative: `${snap1()}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_TTL_SECONDS: "1" });
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap1()}\n`);
    await m.settle();
    await up.reconfigure({ lists: { conservative: `${snap2()}\n` } });
    await new Promise((r) => setTimeout(r, 1100));
    // Stale: this request still gets the stored list, and starts a refresh.
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap1()}\n`);
    await m.settle();
    const fresh = await m.fetch("/registries.conservative");
    expect(await fresh.text()).toBe(`${snap2()}\n`);
    // The new registry tarball was stored before the list changed.
    expect(await storedInfo(snap2().slice(1))).not.toBeNull();
    await m.settle();
  });

  it("takes the hash fewer upstreams know as newest, after cross-checking (C48)", async () => {
    // A advertises snapshot 2 and also has snapshot 1; B advertises snapshot 1 and lacks snapshot 2.
    const a = await upstream({ lists: { conservative: `${snap2()}\n` } });
    const b = await upstream({ lists: { conservative: `${snap1()}\n` }, only: [snap1()] });
    const m = testWorker({ UPSTREAM_SERVERS: `${b.url},${a.url}` });
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap2()}\n`);
    await m.settle();
    const bLog = await b.log();
    expect(bLog.some((r) => r.method === "HEAD" && r.path === snap2())).toBe(true); // the cross-check
  });

  it("keeps the published list when the advertised snapshot cannot be fetched anywhere (C50)", async () => {
    const up = await upstream({ lists: { conservative: `${snap1()}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRY_TTL_SECONDS: "1" });
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap1()}\n`);
    await m.settle();
    await up.reconfigure({ lists: { conservative: `${snap2()}\n` }, only: [snap1()] });
    await new Promise((r) => setTimeout(r, 1100));
    await (await m.fetch("/registries.conservative")).text();
    await m.settle();
    expect(await (await m.fetch("/registries.conservative")).text()).toBe(`${snap1()}\n`);
    await m.settle();
    const meta = (await (await m.fetch("/meta")).json()) as any;
    expect(meta.registries.conservative.last_error).toMatch(/no advertised registry could be fetched/);
  });
});

describe("/meta after publishing", () => {
  it("shows the published registries and when they were published and checked", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: `${snap1()}\n`, eager: `${snap2()}\n` } })).url });
    await (await m.fetch("/registries.eager")).text();
    await m.settle();
    const meta = (await (await m.fetch("/meta")).json()) as any;
    expect(meta.registries.eager.registries).toEqual([{ uuid: manifest.registryUuid, treeHash: manifest.objects[snap2()]!.treeHash }]);
    expect(Date.parse(meta.registries.eager.published_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(meta.registries.eager.last_check_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(meta.registries.eager.last_error).toBeNull();
    expect(meta.registries.conservative.registries).toEqual([]);
  });
});
