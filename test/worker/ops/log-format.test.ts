/** LOG_FORMAT=text: one compact line per request and per event; and what a request from this machine logs. */

import { afterEach, describe, expect, it, vi } from "vitest";
import { log, textLine, useLogFormat } from "../../../worker/log";
import { accessRecord, RequestNote } from "../../../worker/ops/access-log";

afterEach(() => {
  useLogFormat("json");
  vi.restoreAllMocks();
});

describe("text log lines", () => {
  it("a request is method, path, status, outcome, size and time, then what is unusual about it", () => {
    const line = textLine("info", "request", {
      method: "GET",
      path: "/package/u/h",
      status: 200,
      cache: "miss",
      bytes: 394,
      duration_ms: 12,
      broken: false,
      upstream: "http://up",
      julia_version: "1.11.2",
    });
    expect(line).toBe("GET /package/u/h 200 MISS 394 B 12 ms from http://up julia 1.11.2");
    expect(
      textLine("warn", "request", {
        method: "GET",
        path: "/artifact/a",
        status: 200,
        cache: "hit",
        bytes: 3 * 1024 ** 2,
        duration_ms: 40,
        broken: true,
      }),
    ).toBe("GET /artifact/a 200 HIT 3.0 MiB 40 ms BROKEN");
    expect(textLine("info", "request", { method: "GET", path: "/", status: 200, cache: null, bytes: 10, duration_ms: 1 })).toBe(
      "GET / 200 - 10 B 1 ms",
    );
  });

  it("another event is its level (unless info), its name and its fields, quoted where they have spaces", () => {
    expect(textLine("warn", "fill_rejected", { key: "package/u/h", reason: "tree hash mismatch", bytes: 3, gone: null })).toBe(
      'warn fill_rejected key=package/u/h reason="tree hash mismatch" bytes=3',
    );
    expect(textLine("info", "fill_committed", { key: "k", suppliers: ["a", "b"] })).toBe('fill_committed key=k suppliers=["a","b"]');
  });

  it("log() writes JSON to the console method of its level, and text to console.log (the line names its level)", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    useLogFormat("text");
    log("warn", "upstream_failed", { key: "k" });
    useLogFormat("json");
    log("warn", "upstream_failed", { key: "k" });
    expect(info.mock.calls.map((c) => c[0])).toEqual(["warn upstream_failed key=k"]);
    expect(warn.mock.calls.map((c) => c[0])).toEqual(['{"level":"warn","event":"upstream_failed","key":"k"}']);
  });
});

describe("where a request came from", () => {
  const record = (address: string | null) => {
    const request = new Request("https://pkg.example.org/registries", address ? { headers: { "cf-connecting-ip": address } } : {});
    Object.defineProperty(request, "cf", { value: { country: "US", colo: "DFW" } });
    return accessRecord(request, "/registries", 200, new RequestNote(), { bytes: 1, complete: true }, Date.now(), "r");
  };

  it("a client's location is logged; a request from this machine's loopback (wrangler dev) has none to log", () => {
    expect(record("203.0.113.7")).toMatchObject({ country: "US", colo: "DFW" });
    for (const local of ["127.0.0.1", "::1", "::ffff:127.0.0.1", null]) {
      expect(record(local), String(local)).not.toHaveProperty("country");
      expect(record(local), String(local)).not.toHaveProperty("colo");
    }
  });
});
