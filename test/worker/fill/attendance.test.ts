import { describe, expect, it } from "vitest";
import { Attendance } from "../../../worker/fill/shared/attendance";

const RULE = { unattendedMaxBytes: 1000, unattendedGraceMs: 5000 };

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe("who still wants a shared fill", () => {
  it("lets a large fill go once nobody has wanted it for the grace period", () => {
    const c = clock();
    const a = new Attendance(2000, RULE, c.now);
    expect(a.forsaken).toBe(false); // never attended: nobody has left it yet
    const release = a.attend();
    c.t = 10_000;
    expect(a.forsaken).toBe(false);
    release();
    c.t = 14_999;
    expect(a.forsaken).toBe(false);
    c.t = 15_000;
    expect(a.forsaken).toBe(true);
  });

  it("lets a fill of unknown length go too, but never one within the limit", () => {
    const c = clock();
    const unknown = new Attendance(undefined, RULE, c.now);
    const small = new Attendance(1000, RULE, c.now);
    unknown.attend()();
    small.attend()();
    c.t = 60_000;
    expect(unknown.forsaken).toBe(true);
    expect(small.forsaken).toBe(false);
  });

  it("waits for the last requester, and starts the grace period again when someone comes back", () => {
    const c = clock();
    const a = new Attendance(2000, RULE, c.now);
    const first = a.attend();
    const second = a.attend();
    first();
    first(); // a second release of the same requester counts once
    c.t = 60_000;
    expect(a.forsaken).toBe(false);
    second();
    c.t = 62_000;
    const third = a.attend();
    third();
    c.t = 66_000;
    expect(a.forsaken).toBe(false);
    c.t = 67_000;
    expect(a.forsaken).toBe(true);
  });
});
