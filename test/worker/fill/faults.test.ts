/**
 * Hostile and broken upstreams (protocol.md E10, E14, E15, C45–C47): whatever an upstream does, the
 * bucket never holds a wrong object, a client never receives a cleanly ended wrong body, and a
 * later request with a good upstream available gets verified bytes.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { auditBucket, manifest, testWorker, outcome, sha256, upstream, type Fault, type TestWorker, type Outcome } from "../harness";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
/** The path a package too large or too slow to wait for takes (VERIFY_FIRST_MAX_BYTES 0: every cold GET streams). */
const STREAMING = { VERIFY_FIRST_MAX_BYTES: "0" };
const FAST = { UPSTREAM_IDLE_TIMEOUT_MS: "300", UPSTREAM_TIMEOUT_MS: "2000" };

async function expectNoWrongBody(m: TestWorker, path: string): Promise<Outcome> {
  const result = await outcome(await m.fetch(path));
  if (result.clean && result.status === 200) expect(await sha256(result.bytes)).toBe(manifest.objects[path]!.sha256);
  return result;
}

const FAULTS: Fault[] = ["wrong-bytes", "truncate", "overlong", "corrupt-gzip", "status-500", "status-503", "get-503", "stall", "reset"];

describe.each(FAULTS)("an upstream with fault %s", (fault) => {
  it("never stores wrong bytes and never ends a wrong body cleanly", async () => {
    const bad = await upstream({ faults: { [pkg()]: fault } });
    const m = testWorker({ UPSTREAM_SERVERS: bad.url, ...FAST });
    const result = await expectNoWrongBody(m, pkg());
    if (fault !== "overlong") expect(result.clean && result.status === 200, "no clean 200 from a faulty upstream").toBe(false);
    await m.settle();
    await auditBucket();
  });

  it("fills from a good upstream on a later request", async () => {
    const bad = await upstream({ faults: { [pkg()]: fault } });
    const good = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${good.url}`, ...FAST });
    let served: Outcome | undefined;
    for (let attempt = 0; attempt < 2 && !(served?.clean && served.status === 200); attempt++) {
      served = await expectNoWrongBody(m, pkg());
      await m.settle();
    }
    expect(served?.clean && served.status === 200, "a good upstream serves it within two requests").toBe(true);
    expect(await auditBucket()).toEqual([pkg().slice(1)]);
    // From now on it is a hit.
    const hit = await m.fetch(pkg());
    expect(hit.headers.has("x-cache-miss")).toBe(false);
    expect(await sha256(await hit.arrayBuffer())).toBe(manifest.objects[pkg()]!.sha256);
  });
});

describe("verification failures", () => {
  it("log one JSON line naming the key, the upstream, the expected and both computed hashes", async () => {
    const warn = vi.spyOn(console, "warn");
    const bad = await upstream({ faults: { [pkg()]: "wrong-bytes" } });
    const m = testWorker({ UPSTREAM_SERVERS: bad.url });
    await outcome(await m.fetch(pkg()));
    await m.settle();
    const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"fill_rejected"'));
    expect(lines.length).toBe(1);
    const event = JSON.parse(lines[0]!);
    expect(event).toMatchObject({ key: pkg().slice(1), upstream: bad.url, expected: manifest.example.versions["0.5.2"] });
    expect(event.noSkip).toMatch(/^[0-9a-f]{40}$/);
    expect(event.skip).toMatch(/^[0-9a-f]{40}$/);
    expect(event.noSkip).not.toBe(event.expected);
  });

  it("skip the upstream that served bad bytes for that key, and the next request fills from another (C45)", async () => {
    const bad = await upstream({ faults: { [pkg()]: "wrong-bytes" } });
    const good = await upstream({ headDelayMs: 500 }); // the bad one wins the first HEAD race
    const m = testWorker({ ...STREAMING, UPSTREAM_SERVERS: `${bad.url},${good.url}` });
    expect((await outcome(await m.fetch(pkg()))).clean).toBe(false);
    await m.settle();
    const next = await outcome(await m.fetch(pkg()));
    expect(next.clean && next.status === 200, "the next request is served in full").toBe(true);
    expect(next.clean && (await sha256(next.bytes))).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    expect(await auditBucket()).toEqual([pkg().slice(1)]);
    const gets = async (up: typeof bad) => (await up.log()).filter((r) => r.method === "GET").length;
    expect(await gets(bad)).toBe(1); // no second download of bad bytes
    expect(await gets(good)).toBe(1);
  });

  it("with only the upstream that served bad bytes, the next request is an outage, not a second download (C45)", async () => {
    const bad = await upstream({ faults: { [pkg()]: "wrong-bytes" } });
    const m1 = testWorker({ ...STREAMING, UPSTREAM_SERVERS: bad.url });
    expect((await outcome(await m1.fetch(pkg()))).clean).toBe(false);
    await m1.settle();
    // It is passed over now, so no second download of bad bytes, and the answer is an outage
    // (502), not "this does not exist".
    expect((await m1.fetch(pkg())).status).toBe(502);
    expect((await bad.log()).filter((r) => r.method === "GET").length).toBe(1);
  });

  it("reject a registry that matches only its skip hash (E12)", async () => {
    // A registry named by a hash its tarball matches only when empty directories are skipped.
    const vector = manifest.vectors.find((v) => v.noSkip !== v.skip)!;
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const registryPath = `/registry/${manifest.registryUuid}/${vector.skip}`;
    expect(vector.noSkip).not.toBe(vector.skip);
    await up.reconfigure({ aliases: { [registryPath]: vector.path } });
    const result = await outcome(await m.fetch(registryPath));
    expect(result.clean && result.status === 200).toBe(false);
    await m.settle();
    expect(await auditBucket()).toEqual([]);
  });

  it("reject a registry without Registry.toml at its root, even when its hash matches", async () => {
    const packageTarball = pkg();
    const registryPath = `/registry/${manifest.registryUuid}/${manifest.example.versions["0.5.2"]}`;
    const up = await upstream({ aliases: { [registryPath]: packageTarball } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const result = await outcome(await m.fetch(registryPath));
    expect(result.clean && result.status === 200).toBe(false);
    await m.settle();
    expect(await auditBucket()).toEqual([]);
    // The same bytes are fine as the package they are.
    const asPackage = await outcome(await m.fetch(packageTarball));
    expect(asPackage.clean && asPackage.status === 200).toBe(true);
  });
});
