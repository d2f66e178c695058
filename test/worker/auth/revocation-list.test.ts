/**
 * How often an isolate reads the revocation list: once per AUTH_REVOCATION_TTL_SECONDS, one read
 * shared by the requests that find the copy stale, and after a failed read the last copy kept and
 * the bucket asked again a few seconds later, not by every request. A stand-in store counts the
 * reads of this caching function (the routes read the real bucket in endpoints.test.ts).
 */

import { describe, expect, it } from "vitest";
import { revocations, revoke, RevocationContended } from "../../../worker/auth/revocation";
import type { ObjectStore } from "../../../worker/store/store";

/** A store whose reads wait for `release`, then answer `answer()` (a list, or a thrown failure). */
function countingStore(answer: () => object | Error) {
  let gets = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const store = {
    async get() {
      gets++;
      await gate;
      const a = answer();
      if (a instanceof Error) throw a;
      return { body: new Blob([JSON.stringify(a)]).stream(), etag: `"e${gets}"` };
    },
  } as unknown as ObjectStore;
  return { store, gets: () => gets, release };
}

describe("the revocation list's reads", () => {
  it("share one read among the requests that arrive while it is out", async () => {
    const { store, gets, release } = countingStore(() => ({ users: {}, tokens: {} }));
    const pending = Array.from({ length: 20 }, () => revocations(store, 60, 1_000));
    release();
    await Promise.all(pending);
    expect(gets()).toBe(1);
    await revocations(store, 60, 30_000); // within the TTL: the copy
    expect(gets()).toBe(1);
    await revocations(store, 60, 61_001);
    expect(gets()).toBe(2);
  });

  it("keep the last copy through a failed read, and ask again a few seconds later rather than on every request", async () => {
    let down = false;
    const { store, gets, release } = countingStore(() => (down ? new Error("bucket down") : { users: { alice: 100 }, tokens: {} }));
    release();
    expect((await revocations(store, 60, 1_000)).users.alice).toBe(100);
    down = true;
    expect((await revocations(store, 60, 62_000)).users.alice).toBe(100); // stale: read, failed, copy kept
    expect(gets()).toBe(2);
    for (let t = 62_001; t < 66_000; t += 500) await revocations(store, 60, t);
    expect(gets(), "requests within a few seconds of the failure").toBe(2);
    await revocations(store, 60, 67_500);
    expect(gets()).toBe(3);
  });

  it("refuse to answer without a copy when the first read fails", async () => {
    const { store, release } = countingStore(() => new Error("bucket down"));
    release();
    await expect(revocations(store, 60, 1_000)).rejects.toThrow("bucket down");
  });
});

describe("a revocation", () => {
  it("that keeps losing the conditional write to other revocations says so, to be tried again (the endpoint's 503)", async () => {
    let writes = 0;
    const store = {
      get: async () => null,
      putSmall: async () => {
        writes++;
        return false; // another revocation wrote first, every time
      },
    } as unknown as ObjectStore;
    await expect(revoke(store, { user: "alice" })).rejects.toBeInstanceOf(RevocationContended);
    expect(writes).toBe(5);
  });
});
