/**
 * `/metrics` for Prometheus: off without METRICS_TOKEN, a bearer token to read it, and only
 * deployment-wide figures (Analytics Engine, against the suite's SQL API server), never one
 * isolate's counters.
 */

import { describe, expect, inject, it } from "vitest";
import { testWorker } from "../harness";

const TOKEN = "metrics-secret-0123456789";
const dataset = () => ({ writeDataPoint: () => {} });

describe("/metrics", () => {
  it("is not there unless METRICS_TOKEN is set", async () => {
    expect((await testWorker({}).fetch("/metrics")).status).toBe(404);
  });

  it("answers 401 with WWW-Authenticate: Bearer without the token, or with another", async () => {
    const m = testWorker({ METRICS_TOKEN: TOKEN });
    for (const authorization of [undefined, "Bearer wrong", `Basic ${TOKEN}`, "Bearer ", `Bearer ${TOKEN}x`]) {
      const res = await m.fetch("/metrics", authorization ? { headers: { authorization } } : {});
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(await res.text()).toContain("METRICS_TOKEN");
    }
  });

  it("without Analytics Engine says so, and exports no request figures at all (one isolate's are not totals)", async () => {
    const m = testWorker({ METRICS_TOKEN: TOKEN });
    await m.fetch("/meta");
    const res = await m.fetch("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^pkgedge_build_info\{version="[^"]+"\} 1$/m);
    expect(text).toMatch(/^pkgedge_analytics_available 0$/m);
    expect(text).not.toContain("pkgedge_requests");
  });

  it("gives the whole deployment's last day from Analytics Engine as gauges", async () => {
    const sql = inject("analyticsSql");
    const m = testWorker({
      METRICS_TOKEN: TOKEN,
      ANALYTICS: dataset(),
      ANALYTICS_ACCOUNT_ID: sql.account,
      ANALYTICS_SQL_URL: sql.url,
      ANALYTICS_API_TOKEN: sql.token,
    });
    const text = await (await m.fetch("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(text).toMatch(/^pkgedge_analytics_available 1$/m);
    expect(text).toMatch(/^pkgedge_requests_24h\{outcome="hit"\} 7$/m);
    expect(text).toMatch(/^pkgedge_requests_24h\{outcome="miss"\} 3$/m);
    expect(text).toMatch(/^pkgedge_response_bytes_24h 1000$/m);
    // Every sample line is a metric name, optional labels and a number (the exposition format).
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) expect(line).toMatch(/^[a-z][a-z0-9_]*(\{[^}]*\})? \d+$/);
  });
});
