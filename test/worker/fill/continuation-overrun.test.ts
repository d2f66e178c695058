/**
 * A continuation source whose chunked answer overruns the object's length: the watched body fails
 * it as soon as it passes the length (its bytes are wrong, not cut off), so nothing is asked past
 * the object's end and nothing once the fill has failed.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, outcome, sha256, testWorker, upstream } from "../harness";

afterEach(() => vi.restoreAllMocks());

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const LATER = { headDelayMs: 200 };

type Logged = { method: string; path: string; headers: Record<string, string> };

describe("the fastest upstream breaks once; the other answers the ranged GET with a chunked body longer than the object", () => {
  it("no ranged GET asks past the object's end, and nothing is asked once the fill has failed", async () => {
    const info = vi.spyOn(console, "log");
    const flaky = await upstream({ faults: { [pkg()]: "reset-once" } });
    const overlong = await upstream({ faults: { [pkg()]: "overlong-no-length" }, ...LATER });
    const m = testWorker({ UPSTREAM_SERVERS: `${flaky.url},${overlong.url}` });
    const res = await m.fetch(pkg());
    const got = await outcome(res);
    expect(got.status).toBe(200);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
    await m.settle();
    await new Promise((r) => setTimeout(r, 3000)); // the pauses between resumptions
    const length = manifest.objects[pkg()]!.size ?? (got.clean ? got.bytes.length : 0);
    const ranged = [...((await flaky.log()) as Logged[]), ...((await overlong.log()) as Logged[])]
      .filter((r) => r.method === "GET" && r.headers.range)
      .map((r) => r.headers.range!);
    const continued = info.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"event":"fill_continued"'));
    expect(
      ranged.filter((r) => Number(/^bytes=(\d+)-/.exec(r)?.[1]) >= length),
      `ranged GETs ${JSON.stringify(ranged)} of a ${length}-byte object;\n${continued.join("\n")}`,
    ).toEqual([]);
  }, 30_000);
});
