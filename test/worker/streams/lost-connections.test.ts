/**
 * The runtime alone, for the "Network connection lost" lines `npm test` prints around the fixture
 * upstreams' designed faults. No pkgedge code runs in this file. Run
 * `npx vitest run --project worker test/worker/streams/lost-connections.test.ts` and count:
 * - a fetch whose connection is refused (an upstream that is down: 127.0.0.1:9) prints three lines:
 *   `exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)`,
 *   `uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.`
 *   and `uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network
 *   connection lost.`, although the fetch's own rejection is handled (awaited here): six lines for
 *   the two fetches here.
 * - a response body the upstream cuts short (fault "truncate": the socket ends halfway through the
 *   announced length; "reset": the socket is reset) prints one
 *   `exception = rust/worker/ffi.rs:110: disconnected: HTTP body: error reading a body from connection`
 *   line (with its `stack:` line) per fetch: four here. The reader's rejection is handled; nothing
 *   is uncaught. A stalled body its reader cancels prints nothing.
 * - a request body broken while it is being sent (aborted, or closed short) prints four lines per
 *   fetch, among them `uncaught exception; source = Uncaught (in promise); stack = Error: Network
 *   connection lost.`, although the fetch's own rejection is handled: the promise is the
 *   runtime's (it pumps the body), and no `unhandledrejection` event reaches the isolate.
 * pkgedge meets the first whenever an upstream is down, and the second whenever an upstream breaks
 * a body (it logs `fill_continued` or `fill_rejected`, whose reason repeats "Network connection
 * lost."). It never meets the third with a fetch: the S3 store reads a part whole before sending
 * it. The third is the shape of an R2 put whose body pkgedge breaks off (r2-put-broken.test.ts).
 */

import { describe, expect, it } from "vitest";
import { manifest, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a connection refused", () => {
  it("fails the fetch, and no rejection reaches the isolate", async () => {
    const unhandled: unknown[] = [];
    const listener = (e: PromiseRejectionEvent) => unhandled.push(e.reason);
    addEventListener("unhandledrejection", listener);
    try {
      for (const method of ["HEAD", "GET"]) {
        await expect(fetch("http://127.0.0.1:9/", { method })).rejects.toThrow("Network connection lost.");
      }
      await sleep(200);
      expect(unhandled).toEqual([]);
    } finally {
      removeEventListener("unhandledrejection", listener);
    }
  });
});

describe("a response body the upstream cuts short", () => {
  it.each(["truncate", "reset"] as const)("%s: reading it rejects with the runtime's own error", async (fault) => {
    for (let i = 0; i < 2; i++) {
      const bad = await upstream({ faults: { [pkg()]: fault } });
      const res = await fetch(`${bad.url}${pkg()}`);
      expect(res.status).toBe(200);
      await expect(res.arrayBuffer()).rejects.toThrow("Network connection lost.");
    }
  });

  it("a stalled body its reader cancels ends quietly", async () => {
    const bad = await upstream({ faults: { [pkg()]: "stall" } });
    const res = await fetch(`${bad.url}${pkg()}`);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
  });
});

describe("a request body broken while it is sent", () => {
  it.each(["abort", "close short"] as const)("%s: the fetch rejects, and no rejection reaches the isolate", async (end) => {
    const unhandled: unknown[] = [];
    const listener = (e: PromiseRejectionEvent) => unhandled.push(e.reason);
    addEventListener("unhandledrejection", listener);
    try {
      const body = new FixedLengthStream(1000);
      const sent = fetch(`${manifest.controlUrl}/control/broken-request-body`, { method: "POST", body: body.readable });
      const writer = body.writable.getWriter();
      await writer.write(new Uint8Array(500));
      await sleep(200); // the runtime is sending the body by now
      if (end === "abort") await writer.abort(new Error("the bytes failed a check")).catch(() => {});
      else await writer.close().catch(() => {});
      await expect(sent).rejects.toThrow("Network connection lost.");
      await sleep(200);
      expect(unhandled).toEqual([]);
    } finally {
      removeEventListener("unhandledrejection", listener);
    }
  });
});
