/**
 * Who a failed fill passes over (pass-over.ts): a break passes over the upstream that broke only
 * where another upstream has the key (configured is not enough); and a fill requesters wait for
 * does not shorten the wait for an honest upstream that answers slowly.
 */

import { describe, expect, it } from "vitest";
import { manifest, outcome, sha256, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const big = () => manifest.bigArtifact;

describe("a break of the only upstream that has the key, with another configured", () => {
  it("does not pass the holder over: the next request of an artifact is a 200 from it", async () => {
    const holder = await upstream({ faults: { [big()]: "reset-once" } }); // one transient break, then healthy
    const without = await upstream({ only: [] }); // 404 for everything
    const m = testWorker({ UPSTREAM_SERVERS: `${holder.url},${without.url}`, FILL_MAX_RESUMPTIONS: "0" });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean, "the first transfer broke (no resumption)").toBe(false);
    await m.settle();
    const next = await m.fetch(big());
    const detail = next.status === 200 ? "" : await next.clone().text();
    const got = await outcome(next);
    expect(got.status, `next request: ${detail}`).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[big()]!.sha256);
  });

  it("a cold package whose holder breaks once is a verified 200 on the first GET (as with that upstream alone)", async () => {
    const holder = await upstream({ faults: { [pkg()]: "reset-once" } });
    const without = await upstream({ only: [] });
    const m = testWorker({ UPSTREAM_SERVERS: `${holder.url},${without.url}`, FILL_MAX_RESUMPTIONS: "0" });
    const res = await m.fetch(pkg());
    const got = await outcome(res);
    expect(got.status, "the holder's second whole GET would have been good").toBe(200);
    expect(got.clean).toBe(true);
    await m.settle();
  });

  it("the other configured upstream is down (503): a blip of the holder does not make the key a 502 for 600 s", async () => {
    const holder = await upstream({ faults: { [big()]: "reset-once" } });
    const down = await upstream({ faults: { [big()]: "status-503" } });
    const m = testWorker({ UPSTREAM_SERVERS: `${holder.url},${down.url}`, FILL_MAX_RESUMPTIONS: "0", UPSTREAM_FAILURE_TTL_SECONDS: "0" });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean).toBe(false);
    await m.settle();
    const next = await m.fetch(big());
    const detail = next.status === 200 ? "" : await next.clone().text();
    expect((await outcome(next)).status, detail).toBe(200);
  });

  it("with default FILL_MAX_RESUMPTIONS: a blip of the holder lasting through its ranged GETs, the other down: the key is served once the blip is over", async () => {
    const name = `blip-${Math.random().toString(36).slice(2, 8)}`;
    const holder = await upstream({ faults: { [big()]: "reset" } }, name); // breaks every body while the blip lasts
    const down = await upstream({ faults: { [big()]: "status-503" } });
    const m = testWorker({ UPSTREAM_SERVERS: `${holder.url},${down.url}`, UPSTREAM_FAILURE_TTL_SECONDS: "0" });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean).toBe(false);
    await m.settle();
    await upstream({}, name); // the blip is over: the holder serves every GET well
    const next = await m.fetch(big());
    const detail = next.status === 200 ? "" : await next.clone().text();
    expect((await outcome(next)).status, detail).toBe(200);
  }, 30_000);

  it("control: the same with the holder alone configured is a verified 200", async () => {
    const holder = await upstream({ faults: { [pkg()]: "reset-once" } });
    const m = testWorker({ UPSTREAM_SERVERS: holder.url, FILL_MAX_RESUMPTIONS: "0" });
    const got = await outcome(await m.fetch(pkg()));
    expect(got.status).toBe(200);
    expect(got.clean).toBe(true);
    await m.settle();
  });
});

describe("a fill requesters wait for does not shorten the wait for an answer", () => {
  // A third of VERIFY_FIRST_PATIENCE_MS=1500 is 500 ms: an upstream answering in 800 ms (well under
  // UPSTREAM_TIMEOUT_MS, 5 s) must still be waited for (as with the defaults: 10 s, 3.3 s, 4 s).
  it("an honest upstream that answers HEAD in more than a third of the patience (under UPSTREAM_TIMEOUT_MS) serves a cold package", async () => {
    const slow = await upstream({ headDelayMs: 800 });
    const m = testWorker({ UPSTREAM_SERVERS: slow.url, VERIFY_FIRST_PATIENCE_MS: "1500" });
    const res = await m.fetch(pkg());
    const got = await outcome(res);
    expect(got.status, "a package GET waited for").toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
  }, 30_000);

  it("a package over VERIFY_FIRST_MAX_BYTES (streamed at once, not waited for) from the same upstream is a 200", async () => {
    const slow = await upstream({ headDelayMs: 800 });
    const m = testWorker({ UPSTREAM_SERVERS: slow.url, VERIFY_FIRST_PATIENCE_MS: "1500", VERIFY_FIRST_MAX_BYTES: "100" });
    const res = await m.fetch(pkg());
    const got = await outcome(res);
    expect(got.status, "the package is larger than 100 bytes: nobody waits for it").toBe(200);
    await m.settle();
  }, 30_000);

  it("a short VERIFY_FIRST_PATIENCE_MS (600 ms) means streaming sooner, not a 502 from an upstream 300 ms away", async () => {
    const away = await upstream({ headDelayMs: 300 });
    const m = testWorker({ UPSTREAM_SERVERS: away.url, VERIFY_FIRST_PATIENCE_MS: "600" });
    const res = await m.fetch(pkg());
    const detail = res.status === 200 ? "" : await res.clone().text();
    const got = await outcome(res);
    expect(got.status, detail).toBe(200);
    await m.settle();
  }, 30_000);

  it("control: the same upstream serves an artifact (not waited for)", async () => {
    const slow = await upstream({ headDelayMs: 800 });
    const m = testWorker({ UPSTREAM_SERVERS: slow.url, VERIFY_FIRST_PATIENCE_MS: "1500" });
    const got = await outcome(await m.fetch(big()));
    expect(got.status).toBe(200);
    await m.settle();
  }, 30_000);
});
