import { describe, expect, it } from "vitest";
import { ATTEMPTS_KEPT_MS, nextExpiry, unexpired } from "../../../worker/fill/records";
import { resumption } from "../../../worker/fill/resume";
import { parseConfig } from "../../../worker/config";

describe("what a coordinator keeps, and until when", () => {
  const now = 1_000_000_000_000;
  it("leaves out expired records, zero counts and empty quarantines", () => {
    expect(unexpired({ attempts: { count: 0, lastAt: now }, quarantine: [] }, now)).toEqual({});
    expect(unexpired({ attempts: { count: 2, lastAt: now - ATTEMPTS_KEPT_MS } }, now)).toEqual({});
    expect(unexpired({ checked: { bucketEtag: "e", at: now - 10, expires: now } }, now)).toEqual({});
    expect(unexpired({ checked: { bucketEtag: "e", at: now - 8 * 86_400_000 } }, now), "older records: a week").toEqual({});
    const live = { attempts: { count: 1, lastAt: now - 1 }, quarantine: [["k u", now + 5]] as [string, number][] };
    expect(unexpired({ ...live, quarantine: [...live.quarantine, ["k v", now - 5]] }, now)).toEqual(live);
  });

  it("sets the next alarm for the first expiry, and none when nothing is kept", () => {
    expect(nextExpiry({})).toBeNull();
    expect(nextExpiry({ attempts: { count: 1, lastAt: now }, quarantine: [["k u", now + 600_000]] })).toBe(now + 600_000);
    expect(nextExpiry({ attempts: { count: 1, lastAt: now } })).toBe(now + ATTEMPTS_KEPT_MS);
  });
});

describe("what a resumed fill may use", () => {
  const stored = parseConfig({ UPSTREAM_SERVERS: "https://a.example,https://b.example", BINARY_MIRRORS: "rel=https://bucket.example" });
  const tarball = { kind: "tarball", key: `artifact/${"a".repeat(40)}` } as const;
  const file = { kind: "mirror", mirror: "rel", path: "bin/x.tar.gz" } as const;

  it("keeps the upstreams still configured, in their order, and drops the fill when none is", () => {
    const now = parseConfig({ UPSTREAM_SERVERS: "https://c.example,https://b.example" });
    expect(resumption(stored, now, tarball)).toMatchObject({ resume: true, config: { upstreams: ["https://b.example"] } });
    expect(resumption(stored, parseConfig({ UPSTREAM_SERVERS: "https://c.example" }), tarball)).toEqual({
      resume: false,
      removed: ["https://a.example", "https://b.example"],
    });
  });

  it("checks a resumed fill by the stricter limits of the two configurations", () => {
    const now = parseConfig({ UPSTREAM_SERVERS: "https://a.example", VERIFY_MAX_RATIO: "50", FILL_MAX_BYTES: "1000000" });
    const resumed = resumption(stored, now, tarball);
    expect(resumed).toMatchObject({
      resume: true,
      config: { verifyMaxRatio: 50, fillMaxBytes: 1000000, verifyMaxDecompressedBytes: 2000000 },
    });
    const looser = parseConfig({ UPSTREAM_SERVERS: "https://a.example", VERIFY_MAX_RATIO: "1000" });
    expect(resumption(stored, looser, tarball)).toMatchObject({ config: { verifyMaxRatio: 200 } });
  });

  it("resumes a mirror fill only when its mirror has the same base", () => {
    expect(resumption(stored, parseConfig({ BINARY_MIRRORS: "rel=https://bucket.example" }), file).resume).toBe(true);
    expect(resumption(stored, parseConfig({ BINARY_MIRRORS: "rel=https://other.example" }), file)).toEqual({
      resume: false,
      removed: ["https://bucket.example"],
    });
    expect(resumption(stored, parseConfig({ BINARY_MIRRORS: "" }), file).resume).toBe(false);
  });
});
