/** UPSTREAM_CREDENTIALS on the ranged GET a fill continues with. */

import { describe, expect, it } from "vitest";
import { manifest, outcome, sha256, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const SECRET = "Bearer pkgedge-test-s3cr3t-value";

describe("UPSTREAM_CREDENTIALS and ranged GETs", () => {
  it("the continuation's ranged GET carries the credential too", async () => {
    const private_ = await upstream({ authorization: SECRET, faults: { [pkg()]: "reset-once" } });
    const m = testWorker({ UPSTREAM_SERVERS: private_.url, UPSTREAM_CREDENTIALS: `${private_.url}=${SECRET}`, AUTH: "external" });
    const got = await outcome(await m.fetch(pkg()));
    await m.settle();
    const log = await private_.log();
    const ranged = log.filter((r) => r.headers.range !== undefined);
    expect(ranged.length, `a ranged GET was made: ${log.map((r) => `${r.method} ${r.headers.range ?? ""}`).join(", ")}`).toBeGreaterThan(0);
    for (const r of log) expect(r.headers.authorization, `${r.method} ${r.path} ${r.headers.range ?? ""}`).toBe(SECRET);
    if (got.clean) expect(await sha256(got.bytes)).toBe(manifest.objects[pkg()]!.sha256);
  });
});
