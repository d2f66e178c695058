/**
 * An upstream whose bytes are wrong and that breaks just before the end, so its bad bytes end as
 * a "break" (pass-over.ts) or as a continued body whose check fails (nobody passed over, the key's
 * next fills whole). A cold package is still a verified 200; an artifact costs two broken
 * transfers before the hostile upstream is passed over (the first is continued from the good one
 * and fails its check: nobody can be blamed; the second, whole, breaks), and the third is
 * verified — within Pkg's three attempts for an artifact. Passing the hostile one over after the
 * first would need to blame it without proof.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { auditBucket, manifest, outcome, sha256, testWorker, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const big = () => manifest.bigArtifact;
const LATER = { headDelayMs: 200 };

const events = (spy: { mock: { calls: unknown[][] } }, event: string) =>
  spy.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(`"event":"${event}"`));

describe("the fastest upstream sends wrong bytes and resets just before the end", () => {
  it("a cold package GET is a verified 200 from the good upstream", async () => {
    const hostile = await upstream({ faults: { [pkg()]: "corrupt-reset" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${hostile.url},${good.url}` });
    const got = await outcome(await m.fetch(pkg()));
    expect(got.status).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    expect(await auditBucket()).toEqual([pkg().slice(1)]);
  }, 30_000);

  it("an artifact (streamed): at most two broken transfers, then the hostile upstream is passed over and the third is verified", async () => {
    const warn = vi.spyOn(console, "log");
    const hostile = await upstream({ faults: { [big()]: "corrupt-reset" } });
    const good = await upstream(LATER);
    const m = testWorker({ UPSTREAM_SERVERS: `${hostile.url},${good.url}` });
    const clean: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const got = await outcome(await m.fetch(big()));
      clean.push(got.clean);
      await m.settle();
    }
    const hostileWhole = (await hostile.log()).filter((r) => r.method === "GET" && !r.headers.range).length;
    expect({ clean, hostileWhole }, events(warn, "fill_rejected").join("\n")).toEqual({ clean: [false, false, true], hostileWhole: 2 });
  }, 60_000);
});
