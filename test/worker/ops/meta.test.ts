/**
 * PkgServer.jl compatibility of /meta and its sub-routes, the per-isolate counts, and the
 * Analytics Engine data points (through a fake binding that keeps what is written).
 */

import { describe, expect, inject, it, vi } from "vitest";
import { manifest, testWorker, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe("/meta, as PkgServer.jl answers it", () => {
  it("has every field of PkgServer.jl's /meta", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    const body = await json(await m.fetch("/meta"));
    for (const field of [
      "pkgserver_version",
      "pkgserver_url",
      "julia_version",
      "start_time",
      "last_registry_update",
      "registry_update_task",
      "registry_watchdog_task",
      "maxrss",
    ]) {
      expect(body, field).toHaveProperty(field);
    }
    expect(Date.parse(body.start_time)).not.toBeNaN();
  });

  it("answers /meta/parents, /meta/children and /meta/siblings as JSON lists", async () => {
    const a = await upstream();
    const b = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: `${a.url},${b.url}`, SIBLINGS: "https://eu.pkg.example.org/, https://us.pkg.example.org" });
    expect(await (await m.fetch("/meta/parents")).json()).toEqual([a.url, b.url]);
    expect(await (await m.fetch("/meta/children")).json()).toEqual([]);
    expect(await (await m.fetch("/meta/siblings")).json()).toEqual(["https://eu.pkg.example.org", "https://us.pkg.example.org"]);
    expect(await (await testWorker({}).fetch("/meta/siblings")).json()).toEqual([]);
  });

  it("names an upstream's failure in words in /meta: refused, or the HTTP status", async () => {
    const bad = await upstream({ faults: { [pkg()]: "status-503" } });
    const m = testWorker({ UPSTREAM_SERVERS: `${bad.url},http://127.0.0.1:9` });
    expect((await m.fetch(pkg())).status).toBe(502);
    const failures = (await json(await m.fetch("/meta"))).upstream_failures as { detail: string }[];
    expect(failures.at(-1)!.detail).toContain(`${bad.url}: HEAD answered HTTP 503 Service Unavailable`);
    expect(failures.at(-1)!.detail).toContain("connection to 127.0.0.1:9 refused or lost");
  });

  it("a bad SIBLINGS is a configuration error naming it", async () => {
    const res = await testWorker({ SIBLINGS: "not a url" }).fetch("/meta");
    expect(res.status).toBe(500);
    expect((await json(res)).variable).toBe("SIBLINGS");
  });

  it("counts this isolate's answers by outcome in /meta/stats, in PkgServer.jl's fields and pkgedge's", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    const size = (await (await m.fetch(pkg())).arrayBuffer()).byteLength; // miss
    await (await m.fetch(pkg())).arrayBuffer(); // hit
    await (await m.fetch(`/artifact/${"2".repeat(40)}`)).arrayBuffer(); // negative
    await m.settle();
    const stats = await json(await m.fetch("/meta/stats"));
    expect(stats).toMatchObject({
      total_hits: 2,
      cached_hits: 1,
      fetch_hits: 1,
      total_misses: 1,
      payload_bytes_received: size,
      payload_bytes_transmitted: 2 * size,
      outcomes: { hit: 1, miss: 1, joined: 0, negative: 1, error: 0 },
      broken: 0,
      analytics: null,
    });
    expect(stats).toHaveProperty("lru");
    expect(stats).toHaveProperty("packages_cached");
  });
});

describe("Analytics Engine", () => {
  function fakeDataset() {
    const points: AnalyticsEngineDataPoint[] = [];
    return { points, binding: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } };
  }

  it("gets one data point per protocol request, laid out for the rollups", async () => {
    const ds = fakeDataset();
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, ANALYTICS: ds.binding });
    const headers = {
      "Julia-Version": "1.10.4",
      "Julia-System": "x86_64-linux-gnu",
      "Julia-CI-Variables": "CI=t;GITHUB_ACTIONS=t",
      "Julia-Interactive": "false",
    };
    const size = (await (await m.fetch(pkg(), { headers })).arrayBuffer()).byteLength;
    await (await m.fetch(pkg(), { headers: { "Julia-Version": "1.11.0", "Julia-CI-Variables": "CI=n" } })).arrayBuffer();
    await (await m.fetch("/robots.txt")).text(); // not a protocol request: no point
    await m.settle();
    expect(ds.points.length).toBe(2);
    const [miss, hit] = ds.points;
    expect(miss!.indexes).toEqual(["package"]);
    expect(miss!.blobs!.slice(0, 9)).toEqual([
      "package",
      manifest.example.uuid,
      pkg(),
      "miss",
      "1.10.4",
      "x86_64-linux-gnu",
      "ci",
      "false",
      "CI=t;GITHUB_ACTIONS=t",
    ]);
    expect(miss!.blobs![11]).toBe(up.url);
    expect(miss!.doubles!.slice(0, 2)).toEqual([200, size]);
    expect(miss!.doubles![3]).toBe(0);
    expect(hit!.blobs![3]).toBe("hit");
    expect(hit!.blobs![6]).toBe("user");
    const stats = await json(await m.fetch("/meta/stats"));
    expect(stats.analytics).toContain("npm run stats"); // bound, but pkgedge may not read it
  });

  it("gives /meta/stats the whole deployment's last day from Analytics Engine when pkgedge may read it", async () => {
    const sql = inject("analyticsSql");
    const vars = { ANALYTICS: fakeDataset().binding, ANALYTICS_ACCOUNT_ID: sql.account, ANALYTICS_SQL_URL: sql.url };
    const withToken = await json(await testWorker({ ...vars, ANALYTICS_API_TOKEN: sql.token }).fetch("/meta/stats"));
    expect(withToken.analytics).toMatchObject({ requests: 11, bytes: 1000, outcomes: { hit: 7, miss: 3, negative: 1 } });
    // By the hour too (the status page's chart): two of the hits five hours before the rest.
    const hours = withToken.analytics.hours as { hour: string; outcomes: object; bytes: number }[];
    expect(hours.map((h) => h.outcomes)).toEqual([
      { hit: 2, redirect: 0, miss: 0, joined: 0, negative: 0, error: 0 },
      { hit: 5, redirect: 0, miss: 3, joined: 0, negative: 1, error: 0 },
    ]);
    expect(hours.map((h) => h.bytes)).toEqual([200, 800]);
    expect(Date.parse(hours[1]!.hour) - Date.parse(hours[0]!.hour)).toBe(5 * 3_600_000);
    expect(hours[1]!.hour).toMatch(/T\d\d:00:00\.000Z$/);
    const badToken = await json(await testWorker({ ...vars, ANALYTICS_API_TOKEN: "wrong" }).fetch("/meta/stats"));
    expect(badToken.analytics.error).toMatch(/answered 401/);
    const noToken = await json(await testWorker(vars).fetch("/meta/stats"));
    expect(noToken.analytics).toMatch(/ANALYTICS_API_TOKEN/);
  });

  it("asks Analytics Engine once per isolate for /meta/stats, however many ask at once, and again once the minute is over", async () => {
    const sql = inject("analyticsSql");
    const api = new URL(sql.url);
    const tag = `meta-stats-${crypto.randomUUID().slice(0, 8)}`;
    const queries = async () => ((await (await fetch(`${api.origin}/t/${tag}/queries`)).json()) as { count: number }).count;
    const m = testWorker({
      ANALYTICS: fakeDataset().binding,
      ANALYTICS_ACCOUNT_ID: sql.account,
      // The fake answers 300 ms late, so the concurrent requests all arrive while the query is out.
      ANALYTICS_SQL_URL: `${api.origin}/t/${tag}/wait/300${api.pathname}`,
      ANALYTICS_API_TOKEN: sql.token,
    });
    const stats = () => Promise.all(Array.from({ length: 20 }, async () => (await json(await m.fetch("/meta/stats"))).analytics));
    const first = await stats();
    for (const totals of first) expect(totals).toMatchObject({ requests: 11, outcomes: { hit: 7, miss: 3, negative: 1 } });
    expect(await queries()).toBe(1);
    for (let i = 0; i < 5; i++) await json(await m.fetch("/meta/stats"));
    expect(await queries()).toBe(1);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      const later = await stats();
      expect(await queries()).toBe(2);
      expect(Date.parse(later[0].as_of)).toBeGreaterThan(Date.parse(first[0].as_of));
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps a failed Analytics Engine answer for the minute too: a refused token is not spent again on every request", async () => {
    const sql = inject("analyticsSql");
    const api = new URL(sql.url);
    const tag = `meta-stats-refused-${crypto.randomUUID().slice(0, 8)}`;
    const queries = async () => ((await (await fetch(`${api.origin}/t/${tag}/queries`)).json()) as { count: number }).count;
    const m = testWorker({
      ANALYTICS: fakeDataset().binding,
      ANALYTICS_ACCOUNT_ID: sql.account,
      ANALYTICS_SQL_URL: `${api.origin}/t/${tag}${api.pathname}`,
      ANALYTICS_API_TOKEN: "wrong",
    });
    for (let i = 0; i < 5; i++) expect((await json(await m.fetch("/meta/stats"))).analytics.error).toMatch(/answered 401/);
    expect(await queries()).toBe(1);
  });

  it("ANALYTICS_ACCOUNT_ID must be an account ID", async () => {
    const res = await testWorker({ ANALYTICS_ACCOUNT_ID: "nope" }).fetch("/meta");
    expect((await json(res)).variable).toBe("ANALYTICS_ACCOUNT_ID");
  });

  it("an ANALYTICS binding that is not a dataset is a configuration error", async () => {
    const res = await testWorker({ ANALYTICS: "oops" }).fetch("/meta");
    expect(res.status).toBe(500);
    expect((await json(res)).variable).toBe("ANALYTICS");
  });
});
