/**
 * The continuation attacked: whatever the upstream asked for the rest of a broken body answers —
 * more bytes than the object has, a whole other tarball of its own length, an error — the
 * requester never gets a clean 200 with wrong bytes, and nothing wrong is stored.
 */

import { describe, expect, it } from "vitest";
import { auditBucket, manifest, outcome, sha256, testWorker, upstream, type Fault } from "../harness";

const big = () => manifest.bigArtifact;
const LATER = { headDelayMs: 200 };
const FAST = { UPSTREAM_IDLE_TIMEOUT_MS: "300", FILL_MAX_RESUMPTIONS: "1" };

describe.each<Fault>(["overlong", "wrong-bytes", "get-503", "truncate", "corrupt-gzip"])(
  "the upstream asked for the rest answers the ranged GET with '%s'",
  (fault) => {
    it("ends in a broken transfer or the right bytes, and stores nothing wrong", async () => {
      const bad = await upstream({ faults: { [big()]: "reset" } });
      const hostile = await upstream({ faults: { [big()]: fault }, ...LATER });
      const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},${hostile.url}`, ...FAST });
      const first = await outcome(await m.fetch(big()));
      const asked = (await hostile.log()).filter((r) => r.method === "GET").map((r) => r.headers.range ?? "whole");
      expect(asked, "the rest was asked of it, once").toEqual([expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
      if (first.clean) {
        expect(first.status).toBe(200);
        expect(await sha256(first.bytes), "a clean end has the right bytes").toBe(manifest.objects[big()]!.sha256);
      }
      await m.settle();
      await auditBucket(); // fails on anything stored that does not verify
    });
  },
);
