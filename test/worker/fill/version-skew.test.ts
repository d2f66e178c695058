/**
 * A fill coordinator decides from the call (the calling worker's configuration and values), not
 * from what it recorded: a fill resumed after a redeploy, and a call from a worker of the version
 * before (during a rollout).
 */

import { describe, expect, inject, it } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { parseConfig } from "../../../worker/config";
import type { HeldCopy } from "../../../worker/fill/coordinator-calls";
import { manifest, resumableUpstream, testWorker } from "../harness";
import { DBVERSION, publishBinaries } from "../../shared/binaries.ts";

const big = () => manifest.bigArtifact; // ~390 KB

describe("a fill coordinator across versions", () => {
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

  it("answers a revalidation call without a lifetime (a worker of the version before) with a finding that holds for no time", async () => {
    const p = await publishBinaries(inject("binaryBucketUrl"));
    const config = parseConfig({ BINARY_MIRRORS: `rel=${p.bucket.url}`, BINARY_MIRROR_TTL_SECONDS: "600", UPSTREAM_TIMEOUT_MS: "2000" });
    const upstream = await fetch(`${p.bucket.url}/${DBVERSION}`);
    await upstream.text();
    const etag = upstream.headers.get("etag")!;
    const coordinator = env.FILLS.get(env.FILLS.idFromName(`skew ${crypto.randomUUID()}`));
    const held = { bucketEtag: "copy-1", validators: { etag } }; // what the version before sends: no lifetime
    const asked = await coordinator.revalidate(
      config,
      { kind: "mirror", mirror: "rel", path: DBVERSION },
      held as unknown as HeldCopy,
      null,
    );
    expect(asked.kind).toBe("fresh");
    const until = (asked as { until: number }).until;
    expect(Number.isFinite(until), JSON.stringify(asked)).toBe(true);
    expect(until).toBeLessThanOrEqual(Date.now());
  });
});
