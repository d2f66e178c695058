/**
 * A body that ends cleanly short of its Content-Length is a break (gate.ts lengthCheck
 * blames "broke"), and a break of a key's only upstream passes nobody over (pass-over.ts). Where
 * no continuation watches the length (FILL_MAX_RESUMPTIONS=0, a key made whole-only, a mirror
 * file without a strong ETag), the gate's own length check is what finds it.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, outcome, testWorker, upstream, type Fault } from "../harness";

afterEach(() => vi.restoreAllMocks());

const big = () => manifest.bigArtifact;

describe.each<Fault>(["reset", "truncate"])("the only upstream's body breaks (%s), no resumption", (fault) => {
  it("is not passed over: the next request asks it again", async () => {
    const info = vi.spyOn(console, "log");
    const only = await upstream({ faults: { [big()]: fault } });
    const m = testWorker({ UPSTREAM_SERVERS: only.url, FILL_MAX_RESUMPTIONS: "0" });
    const first = await outcome(await m.fetch(big()));
    expect(first.clean).toBe(false);
    await m.settle();
    const next = await m.fetch(big());
    const detail = next.status === 200 ? "" : await next.clone().text();
    await outcome(next);
    await m.settle();
    const gets = (await only.log()).filter((r) => r.method === "GET").length;
    const rejected = info.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("fill_rejected"));
    expect(gets, `next: ${next.status} ${detail}\n${rejected.join("\n")}`).toBe(2);
  });
});
