/** a Pkg-protocol upstream that refuses pkgedge's credential (expired, rotated). */

import { describe, expect, it } from "vitest";
import { manifest, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;

describe("a refused upstream credential", () => {
  it("is an outage (502) on HEAD and GET, not an absence", async () => {
    const private_ = await upstream({ authorization: "Bearer current-credential" });
    const m = testWorker({
      UPSTREAM_SERVERS: private_.url,
      UPSTREAM_CREDENTIALS: `${private_.url}=Bearer expired-credential`,
      AUTH: "external",
    });
    const statuses: number[] = [];
    for (const method of ["HEAD", "GET"]) {
      const res = await m.fetch(pkg(), { method });
      await res.body?.cancel();
      statuses.push(res.status);
    }
    await m.settle();
    expect(statuses).toEqual([502, 502]);
  });
});
