import { describe, expect, it } from "vitest";
import { manifest, mirror, upstream, fixtureBytes, sha256 } from "./harness";

describe("smoke", () => {
  it("serves a package on a miss and then from the bucket", async () => {
    const up = await upstream();
    const m = mirror({ UPSTREAM_SERVERS: up.url });
    const path = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.1"]}`;
    const cold = await m.fetch(path);
    expect(cold.status).toBe(200);
    console.log([...cold.headers]);
    const coldBytes = new Uint8Array(await cold.arrayBuffer());
    await m.settle();
    expect(await sha256(coldBytes)).toBe(await sha256(await fixtureBytes(path)));
    const warm = await m.fetch(path);
    console.log([...warm.headers]);
    expect(warm.status).toBe(200);
    const head = await m.fetch(path, { method: "HEAD" });
    console.log([...head.headers]);
  });
});
