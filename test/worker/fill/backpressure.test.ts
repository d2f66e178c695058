/**
 * Backpressure end to end: a fill runs at the pace of its slowest stage and holds a bounded number
 * of bytes, whatever the object's size. The upstream is a fast loopback server; the bucket is the
 * S3 server behind a proxy that takes uploads at 16 MB/s. If any stage queued without bound, the
 * fill would read the upstream at loopback speed while the bucket lagged further and further.
 */

import { describe, expect, inject, it } from "vitest";
import { backend, manifest, testWorker, sha256, storedInfo, upstream } from "../harness";

const huge = () => manifest.hugeArtifact; // 64 MiB, incompressible
const MiB = 1024 * 1024;

describe.skipIf(backend !== "s3")("backpressure (S3 bucket behind a 16 MB/s proxy; the local R2 cannot be slowed)", () => {
  it("never lets the upstream run more than the window, a part and the sockets' buffers ahead of a slow bucket", async () => {
    const slow = inject("slowS3");
    const passed = async () => ((await (await fetch(slow.stats)).json()) as { passed: number }).passed;
    const up = await upstream();
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      S3_ENDPOINT: slow.endpoint,
      FILL_WINDOW_BYTES: String(1 * MiB),
      MULTIPART_PART_BYTES: String(5 * MiB),
      MULTIPART_THRESHOLD_BYTES: "0",
    });
    const size = manifest.objects[huge()]!.size;
    const before = await passed();

    const samples: { sent: number; received: number }[] = [];
    let done = false;
    const sampling = (async () => {
      while (!done) {
        const get = (await up.log()).find((r) => r.method === "GET");
        samples.push({ sent: get?.sent ?? 0, received: (await passed()) - before });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const res = await m.fetch(huge());
    const body = new Uint8Array(await res.arrayBuffer());
    await m.settle();
    done = true;
    await sampling;

    expect(await sha256(body)).toBe(manifest.objects[huge()]!.sha256);
    expect((await storedInfo(huge().slice(1)))?.size).toBe(size);
    // The slow bucket held the upstream back: at some point most of the object was still unread...
    expect(
      samples.some((s) => s.sent > 0 && s.sent < size * 0.6),
      JSON.stringify(samples),
    ).toBe(true);
    // ...and the upstream was never further ahead of the bucket than the fill's bounded stages
    // (1 MiB window, 5 MiB part, a few 64 KiB chunks) plus the loopback sockets' kernel buffers.
    const ahead = Math.max(...samples.map((s) => s.sent - s.received));
    expect(ahead, JSON.stringify(samples)).toBeLessThan(24 * MiB);
  }, 60_000);
});
