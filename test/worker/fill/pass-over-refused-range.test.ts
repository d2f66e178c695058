/**
 * "A break passes over the upstream that broke last" (pass-over.ts): the one whose transfer broke
 * (the continuation's source), never one that was asked last and only refused a ranged GET.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, outcome, sha256, testWorker, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const LATER = { headDelayMs: 200 };

describe("the fastest upstream breaks every body; the other serves whole GETs well but its ranges re-encoded", () => {
  it("a cold package GET is a verified 200 from the other upstream's whole body", async () => {
    const info = vi.spyOn(console, "log");
    const breaking = await upstream({ faults: { [pkg()]: "reset" } });
    const other = await upstream({ faults: { [pkg()]: "encoded-ranges" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${breaking.url},${other.url}` });
    const res = await m.fetch(pkg());
    const got = await outcome(res);
    const quarantined = info.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('"event":"fill_rejected"') || l.includes('"event":"upstream_unavailable"'));
    expect(got.status, quarantined.join("\n")).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    const wholeFromOther = (await other.log()).filter((r) => r.method === "GET" && !r.headers.range);
    expect(wholeFromOther.length, "the other upstream's whole GET was asked").toBeGreaterThan(0);
    await m.settle();
  }, 30_000);
});
