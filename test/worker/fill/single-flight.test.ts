/**
 * One fill per resource, any number of requesters (protocol.md C42–C44, E17, E20, E21): one upstream
 * download for concurrent misses, bytes to everyone at once, constant memory (a bounded window,
 * with the bucket or a ranged upstream GET for whoever falls outside it), and fills that finish
 * when their clients leave.
 */

import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { parseConfig } from "../../../worker/config";
import { PATIENCE_MS } from "../../../worker/fill/shared/shared-fill";
import { bucketKeys, fixtureBytes, manifest, testWorker, resumableUpstream, sha256, storedBytes, storedInfo, upstream } from "../harness";

const big = () => manifest.bigArtifact; // ~390 KB, incompressible
const SMALL_WINDOW = String(64 * 1024);

const stored = (path: string) => storedBytes(path.slice(1));

async function readAll(res: Response, pauseAfterFirstMs = 0): Promise<Uint8Array> {
  const reader = res.body!.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    if (parts.length === 1 && pauseAfterFirstMs) await new Promise((r) => setTimeout(r, pauseAfterFirstMs));
  }
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

const gets = async (up: { log(): Promise<{ method: string; path: string; headers: Record<string, string> }[]> }, path: string) =>
  (await up.log()).filter((r) => r.method === "GET" && r.path === path);

describe("single-flight", () => {
  it("serves 50 concurrent cold requests from one upstream GET, every body correct (C42)", async () => {
    const up = await upstream({ faults: { [big()]: "slow" } }); // the body takes about two seconds
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const expected = await sha256(await fixtureBytes(big()));
    const bodies = await Promise.all(Array.from({ length: 50 }, async () => readAll(await m.fetch(big()))));
    for (const b of bodies) expect(await sha256(b)).toBe(expected);
    await m.settle();
    expect((await gets(up, big())).length).toBe(1);
    expect((await up.log()).filter((r) => r.method === "HEAD").length).toBeLessThanOrEqual(1);
    expect(await sha256((await stored(big()))!)).toBe(expected);
  });

  it("gives every requester its first bytes while the fill is still running (C43)", async () => {
    const up = await upstream({ faults: { [big()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const responses = await Promise.all(Array.from({ length: 5 }, () => m.fetch(big())));
    for (const res of responses) {
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      expect(await storedInfo(big().slice(1))).toBeNull(); // not committed yet: streaming, not waiting
      await reader.cancel().catch(() => {});
    }
    await m.settle();
  });

  it("agrees on the upstream and Content-Length for a HEAD and a GET that land in different isolates (C51)", async () => {
    const a = await upstream();
    const b = await upstream();
    const first = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    const second = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}` });
    const head = await first.fetch(big(), { method: "HEAD" });
    const body = await readAll(await second.fetch(big()));
    expect(head.headers.get("content-length")).toBe(String(body.length));
    await second.settle();
    const all = [...(await a.log()), ...(await b.log())];
    expect(all.filter((r) => r.method === "HEAD").length).toBe(2); // one probe per upstream, then remembered
    expect(all.filter((r) => r.method === "GET").length).toBe(1);
  });
});

describe("constant memory: the bounded window", () => {
  it("serves a late joiner from a ranged upstream GET, checked block by block, when the window has moved past its start", async () => {
    const up = await upstream({ faults: { [big()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, FILL_WINDOW_BYTES: SMALL_WINDOW });
    const expected = await fixtureBytes(big());
    const early = m.fetch(big()).then((r) => readAll(r));
    await new Promise((r) => setTimeout(r, 1000)); // about half the body has passed: well past a 64 KiB window
    const late = await readAll(await m.fetch(big()));
    expect(await sha256(late)).toBe(await sha256(expected));
    expect(await sha256(await early)).toBe(await sha256(expected));
    await m.settle();
    const upstreamGets = await gets(up, big());
    expect(upstreamGets.length).toBe(2);
    expect(upstreamGets[1]!.headers.range).toBe("bytes=0-");
  });

  it("moves a client that falls behind the window onto the bucket once the object is committed", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, FILL_WINDOW_BYTES: SMALL_WINDOW });
    const expected = await fixtureBytes(big());
    const res = await m.fetch(big());
    // Read one piece, then stall past the fill's patience: the fill drops this client, runs to its
    // commit and lets the window go, so the rest can only come from the bucket.
    const body = await readAll(res, PATIENCE_MS + 1000);
    expect(await sha256(body)).toBe(await sha256(expected));
    await m.settle();
    expect((await gets(up, big())).length).toBe(1); // the rest came from the bucket
  });

  it("serves a cold range that starts before the window from the upstream, while the fill goes on (C20)", async () => {
    const up = await upstream({ faults: { [big()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, FILL_WINDOW_BYTES: SMALL_WINDOW });
    const expected = await fixtureBytes(big());
    const whole = m.fetch(big()).then((r) => readAll(r));
    await new Promise((r) => setTimeout(r, 1000));
    const res = await m.fetch(big(), { headers: { range: "bytes=100-1099" } });
    expect(res.status).toBe(206);
    expect(await readAll(res)).toEqual(expected.subarray(100, 1100));
    await whole;
    await m.settle();
  });
});

describe("fills outlive their clients", () => {
  it("finishes and commits the fill when the only client leaves mid-download (C44, E20)", async () => {
    const up = await upstream({ faults: { [big()]: "slow" } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(big());
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await m.settle();
    expect(await sha256((await stored(big()))!)).toBe(await sha256(await fixtureBytes(big())));
    // A later request is a hit with the whole verified object.
    const again = await m.fetch(big());
    expect(again.headers.has("x-cache-miss")).toBe(false);
    expect(await sha256(await again.arrayBuffer())).toBe(await sha256(await fixtureBytes(big())));
  });

  it("starts a fill again from its alarm when the coordinator lost it mid-fill", async () => {
    const up = await resumableUpstream(0, { faults: { [big()]: "slow" } }); // still configured when the alarm runs
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(big());
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel(); // the client leaves; the fill goes on
    const stub = env.FILLS.get(env.FILLS.idFromName(`${up.url} ${big().slice(1)}`)); // named by upstreams and key
    await abortAllDurableObjects(); // as if the object died: memory gone, storage and alarm kept
    expect(await storedInfo(big().slice(1))).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await m.settle();
    const bytes = await stored(big());
    expect(bytes, "stored by a resumed fill").not.toBeNull();
    expect(await sha256(bytes!)).toBe(await sha256(await fixtureBytes(big())));
    expect((await gets(up, big())).length).toBeGreaterThanOrEqual(2); // the lost fill, then the resumed one
  });
});

describe("a fill resumed after a redeploy", () => {
  // The record a running fill leaves in its coordinator's storage, as a worker configured with
  // `vars` left it; the coordinators' own environment (the deployment now) lists other upstreams.
  async function interrupted(name: string, vars: Record<string, string>, spec: unknown) {
    const m = testWorker(vars);
    const stub = env.FILLS.get(env.FILLS.idFromName(name));
    const config = parseConfig(m.env as unknown as Record<string, unknown>);
    await runInDurableObject(stub, async (_, state) => {
      await state.storage.put("pending", { spec, config });
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    const pending = () => runInDurableObject(stub, (_, state) => state.storage.get("pending"));
    return { m, stub, pending };
  }

  it("resumes only from the upstreams the deployed configuration still names", async () => {
    const removed = await upstream(); // not in the coordinators' UPSTREAM_SERVERS any more
    const kept = await resumableUpstream(0, { headDelayMs: 300 }); // would lose the HEAD race
    const upstreams = `${removed.url},${kept.url}`;
    const key = big().slice(1);
    const { m, stub } = await interrupted(`${upstreams} ${key}`, { UPSTREAM_SERVERS: upstreams }, { kind: "tarball", key });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await m.settle();
    expect(await removed.log(), "the removed upstream is never asked").toEqual([]);
    expect((await gets(kept, big())).length).toBe(1);
    expect(await sha256((await stored(big()))!)).toBe(await sha256(await fixtureBytes(big())));
  });

  it("drops a fill whose every upstream was removed", async () => {
    const removed = await upstream();
    const key = big().slice(1);
    const { m, stub, pending } = await interrupted(`${removed.url} ${key}`, { UPSTREAM_SERVERS: removed.url }, { kind: "tarball", key });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await m.settle();
    expect(await removed.log()).toEqual([]);
    expect(await pending(), "the record is gone: no alarm restarts it").toBeUndefined();
    expect(await bucketKeys()).toEqual([]);
  });

  it("drops a binary-mirror fill whose mirror base was removed", async () => {
    const removed = await upstream();
    const spec = { kind: "mirror", mirror: "rel", path: "bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz" };
    const { m, stub, pending } = await interrupted(
      `${removed.url} mirror/rel/${spec.path}`,
      { BINARY_MIRRORS: `rel=${removed.url}` },
      spec,
    );
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await m.settle();
    expect(await removed.log()).toEqual([]);
    expect(await pending()).toBeUndefined();
  });
});
