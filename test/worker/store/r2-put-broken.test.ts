/**
 * The runtime alone, for the lines `npm test` prints after a designed rejection on the R2 backend.
 * An R2 put whose body does not complete — its FixedLengthStream aborted, or closed short, as
 * pkgedge does with the bucket write of a fill that failed a check — rejects cleanly in the
 * worker, and nothing is stored. In the vitest pool (not under `wrangler dev`: see
 * test/e2e/uncaught.test.ts) the runtime then prints two "uncaught exception; source = Uncaught
 * (in promise)" lines per put, although the put's own rejection is handled and no
 * `unhandledrejection` event reaches the isolate. Which two depends on when the body breaks:
 * - before the local R2 simulator began reading it: "TypeError: Can't read from request stream
 *   because client disconnected.", twice;
 * - after (a fill breaks its write once some bytes went through, since the commit gate holds back
 *   only the last ones): one `exception = kj/async-io.c++:2008: disconnected: fixed-length pipe
 *   ended prematurely` line, then "Error: Network connection lost.", twice.
 * Run `npx vitest run --project worker test/worker/store/r2-put-broken.test.ts` and count them
 * (six "Can't read" for the first three puts here, two "fixed-length pipe" and four "Network
 * connection lost." for the last two). No pkgedge code runs in this file; pkgedge cannot avoid
 * the operation without buffering a whole object or storing bytes before they are verified
 * (docs/operations.md).
 */

import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";

const bucket = () => (env as unknown as { BUCKET: R2Bucket }).BUCKET;

describe("an R2 put whose body does not complete", () => {
  it.each(["abort", "close short", "abort before any byte"] as const)("%s: the put rejects and nothing is stored", async (end) => {
    const key = `r2-put-broken/${crypto.randomUUID()}`;
    const body = new FixedLengthStream(64 * 1024);
    const put = bucket().put(key, body.readable);
    const writer = body.writable.getWriter();
    if (end !== "abort before any byte") await writer.write(new Uint8Array(32 * 1024));
    if (end === "close short") await writer.close().catch(() => {});
    else await writer.abort(new Error("the bytes failed a check")).catch(() => {});
    await expect(put).rejects.toThrow();
    expect(await bucket().head(key)).toBeNull();
  });

  it.each(["abort", "close short"] as const)("%s once the bucket is reading it: the put rejects and nothing is stored", async (end) => {
    const unhandled: unknown[] = [];
    const listener = (e: PromiseRejectionEvent) => unhandled.push(e.reason);
    addEventListener("unhandledrejection", listener);
    try {
      const key = `r2-put-broken/${crypto.randomUUID()}`;
      const body = new FixedLengthStream(64 * 1024);
      const put = bucket().put(key, body.readable);
      put.catch(() => {}); // awaited below, after the wait
      const writer = body.writable.getWriter();
      await writer.write(new Uint8Array(32 * 1024));
      await new Promise((r) => setTimeout(r, 200)); // the simulator is reading the body by now
      if (end === "close short") await writer.close().catch(() => {});
      else await writer.abort(new Error("the bytes failed a check")).catch(() => {});
      await expect(put).rejects.toThrow();
      expect(await bucket().head(key)).toBeNull();
      expect(unhandled).toEqual([]);
    } finally {
      removeEventListener("unhandledrejection", listener);
    }
  });
});
