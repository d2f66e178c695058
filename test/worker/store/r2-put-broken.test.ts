/**
 * The runtime alone, for the lines `npm test` prints after a designed rejection on the R2 backend.
 * An R2 put whose body does not complete — its FixedLengthStream aborted, or closed short, as
 * pkgedge does with the bucket write of a fill that failed a check — rejects cleanly in the
 * worker, and nothing is stored. In the vitest pool (not under `wrangler dev`: see
 * test/e2e/uncaught.test.ts) the local R2 simulator then prints, from its own isolate, two
 * "uncaught exception; source = Uncaught (in promise); stack = TypeError: Can't read from request
 * stream because client disconnected." (or "Error: Network connection lost.") lines per put: run
 * `npx vitest run --project worker test/worker/store/r2-put-broken.test.ts` and count them (six
 * for the three puts here). No pkgedge code runs in this file; pkgedge cannot avoid the operation
 * without buffering a whole object or storing bytes before they are verified (docs/operations.md).
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
});
