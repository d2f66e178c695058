/**
 * A break on a key with one upstream is never passed over (pass-over.ts: a blip must not shut out
 * the only source for ten minutes). What bounds the cost to an upstream that breaks every body of
 * the key (a damaged copy on its side) is then the crash-loop backoff: FILL_MAX_ATTEMPTS failed
 * fills in a row (5 by default), each at most one whole GET and FILL_MAX_RESUMPTIONS ranged ones (3), then
 * the key is refused for FILL_BACKOFF_SECONDS without asking the upstream.
 */

import { describe, expect, it } from "vitest";
import { manifest, outcome, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;

describe("one upstream that breaks every body of a package", () => {
  it("client GETs in a row cost it at most FILL_MAX_ATTEMPTS fills' GETs, then nothing while the key is refused", async () => {
    const breaking = await upstream({ faults: { [pkg()]: "reset" } });
    // Small settings keep the test short: 2 failed fills before the key is refused, 1 ranged GET each.
    const m = testWorker({ UPSTREAM_SERVERS: breaking.url, FILL_MAX_ATTEMPTS: "2", FILL_MAX_RESUMPTIONS: "1" });
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 4; i++) {
      const got = await outcome(await m.fetch(pkg()));
      statuses.push(got.status);
      await m.settle();
    }
    const took = Date.now() - started;
    const gets = (await breaking.log()).filter((r) => r.method === "GET");
    const whole = gets.filter((r) => !r.headers.range).length;
    expect({ statuses, whole, ranged: gets.length - whole }, `${took} ms for the three requests`).toEqual({
      statuses: [502, 502, 502, 502],
      whole: expect.any(Number),
      ranged: expect.any(Number),
    });
    expect(gets.length, `GETs of the upstream for four client requests, ${took} ms`).toBeLessThanOrEqual(2 * (1 + 1));
    // Once refused, a request costs the upstream nothing.
    const before = gets.length;
    expect((await m.fetch(pkg())).status).toBe(502);
    await m.settle();
    expect((await breaking.log()).filter((r) => r.method === "GET").length).toBe(before);
  }, 60_000);
});
