/**
 * A fill coordinator revalidating a binary-mirror copy keeps no freshness rule of its own: how
 * long a finding that the copy is current holds is the lifetime the worker passes in the call.
 */

import { describe, expect, inject, it } from "vitest";
import { env } from "cloudflare:workers";
import "../harness";
import { DBVERSION, publishBinaries } from "../../shared/binaries.ts";
import { parseConfig } from "../../../worker/config";
import type { HeldCopy } from "../../../worker/fill/coordinator-calls";
import type { FillSpec } from "../../../worker/fill/target";

const spec: FillSpec = { kind: "mirror", mirror: "rel", path: DBVERSION };

/** A published mirror (TTL 600 s), its versions file's ETag, and a fresh coordinator for it. */
async function revalidating() {
  const p = await publishBinaries(inject("binaryBucketUrl"));
  const config = parseConfig({ BINARY_MIRRORS: `rel=${p.bucket.url}`, BINARY_MIRROR_TTL_SECONDS: "600", UPSTREAM_TIMEOUT_MS: "2000" });
  const upstream = await fetch(`${p.bucket.url}/${DBVERSION}`);
  await upstream.text();
  const etag = upstream.headers.get("etag")!;
  const coordinator = env.FILLS.get(env.FILLS.idFromName(`revalidation ${crypto.randomUUID()}`));
  return { p, config, etag, coordinator };
}

describe("revalidating over RPC", () => {
  it("a copy found current stays fresh for the lifetime the worker passes, not the coordinator's TTL", async () => {
    const { p, config, etag, coordinator } = await revalidating();
    const held = { bucketEtag: "copy-1", validators: { etag }, lifetimeSeconds: 5 };

    const before = Date.now();
    const asked = await coordinator.revalidate(config, spec, held, null);
    expect(asked.kind).toBe("fresh");
    const until = (asked as { until: number }).until;
    expect(until).toBeGreaterThanOrEqual(before + 5000);
    expect(until).toBeLessThanOrEqual(Date.now() + 5000);

    // The finding it keeps is read back with the lifetime of the next call.
    const recalled = await coordinator.revalidate(config, spec, { ...held, lifetimeSeconds: 60 }, null);
    expect(recalled).toEqual({ kind: "fresh", until: until + 55_000 });
    const conditional = (await p.bucket.log()).filter((r) => r.path === DBVERSION && r.headers["if-none-match"] === etag);
    expect(conditional.map((r) => r.status)).toEqual([304]);
  });

  it("answers a call without a lifetime (a worker of the version before, mid-rollout) with a finding that holds for no time", async () => {
    const { config, etag, coordinator } = await revalidating();
    const held = { bucketEtag: "copy-1", validators: { etag } } as unknown as HeldCopy; // no lifetimeSeconds
    const asked = await coordinator.revalidate(config, spec, held, null);
    expect(asked.kind).toBe("fresh");
    const until = (asked as { until: number }).until;
    expect(Number.isFinite(until), JSON.stringify(asked)).toBe(true);
    expect(until).toBeLessThanOrEqual(Date.now());
  });
});
