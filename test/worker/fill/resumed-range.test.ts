/**
 * A fill coordinator decides from the call (the calling worker's configuration), not from what it
 * recorded: a fill resumed after a redeploy. (A call from a worker of the version before, mid-
 * rollout: test/worker/mirror/revalidation.test.ts.)
 */

import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { parseConfig } from "../../../worker/config";
import { manifest, resumableUpstream, testWorker } from "../harness";

const big = () => manifest.bigArtifact; // ~390 KB

describe("a fill resumed after a redeploy", () => {
  it("a range joining a fill resumed after a redeploy is cut by the deployed UNATTENDED_FILL_MAX_BYTES", async () => {
    const kept = await resumableUpstream(2, { faults: { [big()]: "slow" } }); // the body takes about two seconds
    const key = big().slice(1);
    // The fill was started by a worker whose UNATTENDED_FILL_MAX_BYTES was 0 (ranges on it ignored).
    const before = testWorker({ UPSTREAM_SERVERS: kept.url, UNATTENDED_FILL_MAX_BYTES: "0" });
    const stub = env.FILLS.get(env.FILLS.idFromName(`${kept.url} ${key}`));
    const stored = parseConfig(before.env as unknown as Record<string, unknown>);
    await runInDurableObject(stub, async (_, state) => {
      await state.storage.put("pending", { spec: { kind: "tarball", key }, config: stored });
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true); // resumed, still running (slow upstream)
    // The redeployed worker (default limit, 256 MiB) asks for ten bytes while it runs.
    const now = testWorker({ UPSTREAM_SERVERS: kept.url });
    const res = await now.fetch(big(), { headers: { range: "bytes=0-9" } });
    const body = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get("x-cache-miss")).toBe("miss");
    expect(res.status, "the deployed configuration allows a range on a 390 KB object").toBe(206);
    expect(body.byteLength).toBe(10);
    await now.settle();
  });
});
