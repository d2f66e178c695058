/**
 * Registry trust: only registries in REGISTRIES are published; a hash pkgedge has not published
 * needs its origin's word (or, when the origin cannot be asked, a quorum of upstreams); a lagging
 * upstream never moves the list back; the bookkeeping is never lost or silently reset; rounds are bounded.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { bucket, manifest, testWorker, type TestWorker, storedText, upstream } from "../harness";
import { originAuthorization } from "../../../worker/registries/origin";

afterEach(() => vi.restoreAllMocks());

const snap = (i: number) => manifest.snapshots[i]!;
const list = (...i: number[]) => i.map((n) => `${snap(n)}\n`).join("");
const hashOf = (i: number) => manifest.objects[snap(i)]!.treeHash;
const published = () => storedText("registries.conservative");
const STATE = "_pkgedge/registries.conservative.json";

async function meta(m: TestWorker): Promise<any> {
  return ((await (await m.fetch("/meta")).json()) as any).registries.conservative;
}

/** An upstream that answers only as the registry's origin, knowing these snapshots (or down). */
async function originKnowing(known: number[] | "down") {
  const origin = await upstream({ origin: known === "down" ? "down" : known.map(hashOf) });
  return `${manifest.registryUuid}=${origin.url}/origin/{hash}`;
}

describe("the allowlist", () => {
  it("publishes only registries in REGISTRIES, and counts the others in /meta", async () => {
    const others = Array.from(
      { length: 200 },
      (_, i) => `/registry/${i.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000/${"a".repeat(40)}\n`,
    ).join("");
    const up = await upstream({ lists: { conservative: list(0) + others } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    const info = await meta(m);
    expect(info.ignored_registries.count).toBe(200);
    // Nothing was fetched or probed for them.
    expect((await up.log()).filter((r) => r.path.includes("-0000-4000-8000-")).length).toBe(0);
    await m.settle();
  });
});

describe("the origin is the authority for new hashes", () => {
  it("never publishes a snapshot its origin does not know, whoever lists it, and says why in /meta", async () => {
    const up = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRIES: await originKnowing([0]) });
    await m.scheduled();
    expect(await published()).toBeNull();
    const info = await meta(m);
    expect(info.by_registry[manifest.registryUuid].refused).toContainEqual({
      hash: hashOf(1),
      reason: "its origin does not know it (404)",
    });
    await m.settle();
  });

  it("an origin that moved (301 whatever the hash) is asked where it moved: it vouches only for what it knows there", async () => {
    const origin = await upstream({ origin: [hashOf(0)] });
    const registries = `${manifest.registryUuid}=${origin.url}/moved-origin/{hash}`;
    const unknown = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: list(1) } })).url, REGISTRIES: registries });
    await unknown.scheduled();
    expect(await published()).toBeNull();
    expect((await meta(unknown)).by_registry[manifest.registryUuid].refused).toContainEqual({
      hash: hashOf(1),
      reason: "its origin does not know it (404)",
    });
    await unknown.settle();
    const known = testWorker({ UPSTREAM_SERVERS: (await upstream({ lists: { conservative: list(0) } })).url, REGISTRIES: registries });
    await known.scheduled();
    expect(await published()).toBe(list(0));
    await known.settle();
  });

  it("records how the published hash was confirmed", async () => {
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRIES: await originKnowing([0]) });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    const info = (await meta(m)).by_registry[manifest.registryUuid];
    expect(info).toMatchObject({ hash: hashOf(0), confirmed_by: "origin" });
    expect(info.published_at).not.toBeNull();
    await m.settle();
  });

  it("falls back to a quorum when the origin is down: two upstreams must both have it", async () => {
    const a = await upstream({ lists: { conservative: list(1) } });
    const b = await upstream({ lists: { conservative: list(0) }, only: [snap(0)] });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}`, REGISTRIES: await originKnowing("down") });
    await m.scheduled();
    expect(await published()).toBe(list(0)); // what both have
    let info = (await meta(m)).by_registry[manifest.registryUuid];
    expect(info.confirmed_by).toBe("quorum");
    expect(info.origin_failures).toBeGreaterThan(0);
    expect(info.last_origin_error).toMatch(/503/);
    await b.reconfigure({ lists: { conservative: list(1) } }); // B now has (and lists) snapshot 1 too
    await m.scheduled();
    expect(await published(), "both moved on, and the history says it is newer: followed in the same round").toBe(list(1));
    info = (await meta(m)).by_registry[manifest.registryUuid];
    expect(info.confirmed_by).toBe("quorum");
    await m.settle();
  });

  it("lets no single upstream of two decide when the origin is down", async () => {
    const a = await upstream({ lists: { conservative: list(1) } });
    const b = await upstream({ lists: {} });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}`, REGISTRIES: await originKnowing("down") });
    await m.scheduled();
    expect(await published()).toBeNull();
    await m.settle();
  });

  it("never sends GITHUB_TOKEN to an origin that is not api.github.com", async () => {
    const origin = await upstream({});
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      REGISTRIES: `${manifest.registryUuid}=${origin.url}/origin/{hash}`,
      GITHUB_TOKEN: "ghp_secret",
    });
    await m.scheduled();
    const asked = await origin.log();
    expect(asked.length).toBe(1);
    expect(asked[0]!.headers.authorization).toBeUndefined();
    await m.settle();
  });

  it.each([
    ["GitHub's API over https", "https://api.github.com/repos/JuliaRegistries/General/tarball/abc", "Bearer ghp_secret"],
    ["GitHub's API over plain http (ALLOW_INSECURE_UPSTREAMS): never in the clear", "http://api.github.com/repos/x/y/tarball/abc", null],
    ["a host that only starts like GitHub's", "https://api.github.com.example.org/tarball/abc", null],
    ["another host", "https://git.example.org/tarball/abc", null],
  ])("GITHUB_TOKEN for %s", (_, url, authorization) => {
    expect(originAuthorization(url, "ghp_secret")).toBe(authorization);
    expect(originAuthorization(url, undefined)).toBeNull();
  });

  it("asks the origin once per hash, whatever the number of rounds", async () => {
    const origin = await upstream({ origin: [hashOf(0), hashOf(1)] });
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, REGISTRIES: `${manifest.registryUuid}=${origin.url}/origin/{hash}` });
    for (let i = 0; i < 3; i++) await m.scheduled();
    await up.reconfigure({ lists: { conservative: list(1) } });
    for (let i = 0; i < 3; i++) await m.scheduled();
    expect(await published()).toBe(list(1));
    expect((await origin.log()).map((r) => r.path)).toEqual([`/origin/${hashOf(0)}`, `/origin/${hashOf(1)}`]);
    await m.settle();
  });
});

describe("a lagging upstream never moves the list back", () => {
  it("stays when A lists an older snapshot it also has while B lists the published one, and blacklists nothing", async () => {
    const warn = vi.spyOn(console, "warn");
    const a = await upstream({ lists: { conservative: list(1) } });
    const b = await upstream({ lists: { conservative: list(1) } });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    await a.reconfigure({ lists: { conservative: list(0) } }); // A is behind in what it lists (it stores both)
    await m.scheduled();
    expect(await published()).toBe(list(1));
    await a.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect(await published()).toBe(list(1));
    expect(warn.mock.calls.some((c) => String(c[0]).includes('"registry_upstream_backwards"'))).toBe(false);
    expect(JSON.parse((await storedText(STATE))!).superseded?.[manifest.registryUuid] ?? []).toEqual([]);
    await m.settle();
  });

  it("stays when an upstream comes back from an outage listing an older snapshot than the one published meanwhile", async () => {
    const a = await upstream({ lists: { conservative: list(0) } });
    const b = await upstream({ lists: { conservative: list(0) }, only: [snap(0)] });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    await m.scheduled();
    await b.reconfigure({ lists: {}, only: [] }); // B is down
    await a.reconfigure({ lists: { conservative: list(2) } });
    await m.scheduled();
    expect(await published()).toBe(list(2)); // A alone moved on: confirmed by the origin, newer by the history
    await b.reconfigure({ lists: { conservative: list(1) } }); // back, behind, but it has everything
    await m.scheduled();
    expect(await published()).toBe(list(2));
    await m.settle();
  });
});

describe("bookkeeping", () => {
  it("stops publishing, says so, and keeps the file, when the state cannot be parsed", async () => {
    const error = vi.spyOn(console, "error");
    const up = await upstream({ lists: { conservative: list(0) } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    await m.scheduled();
    await bucket().putSmall(STATE, "{ not json", { contentType: "application/json" });
    await up.reconfigure({ lists: { conservative: list(1) } });
    await m.scheduled();
    expect(await published()).toBe(list(0));
    expect(await storedText(STATE)).toBe("{ not json"); // never overwritten with an empty history
    const info = await meta(m);
    expect(info.state_error).toMatch(/cannot be parsed/);
    expect(error.mock.calls.some((c) => String(c[0]).includes('"registry_state_unreadable"'))).toBe(true);
    await m.settle();
  });
});

describe("bounded rounds", () => {
  it("starts at most two fills per registry and round, and says it stopped at the cap", async () => {
    const a = await upstream({ lists: { conservative: list(2) }, faults: { [snap(2)]: "wrong-bytes", [snap(1)]: "wrong-bytes" } });
    const b = await upstream({ lists: { conservative: list(1) }, only: [snap(0), snap(1)], faults: { [snap(1)]: "wrong-bytes" } });
    const c = await upstream({ lists: { conservative: list(0) }, only: [snap(0)] });
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url},${c.url}` });
    await m.scheduled();
    expect(await published()).toBeNull(); // snapshot 0 was next, but two fills were spent
    expect((await meta(m)).by_registry[manifest.registryUuid].capped).toBe("started 2 fills");
    await m.settle();
    await m.scheduled(); // the next round gets further
    expect(await published()).toBe(list(0));
    await m.settle();
  });
});
