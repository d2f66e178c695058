/** The status page at `/`: what it says about registries (fresh, stale, unpublished), upstreams and counts. */

import { describe, expect, inject, it } from "vitest";
import { manifest, putObject, testWorker, upstream } from "../harness";
import { freshness, lastFailures, mirrorFailures, STALE_AFTER_TTLS } from "../../../worker/ops/status";
import { esc } from "../../../worker/ops/html";
import type { FlavorReport } from "../../../worker/ops/meta";

const snap = () => manifest.snapshots[0]!;

function report(over: Partial<FlavorReport>): FlavorReport {
  return {
    registries: [{ uuid: manifest.registryUuid, treeHash: "a".repeat(40) }],
    published_at: null,
    last_check_at: null,
    last_attempt_at: null,
    last_error: null,
    state_error: null,
    by_registry: {},
    ignored_registries: null,
    ...over,
  };
}

describe("freshness of a published list", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  const ago = (s: number) => new Date(now - s * 1000).toISOString();

  it("is fresh while confirmed within STALE_AFTER_TTLS registry TTLs, stale after, with the last error", () => {
    expect(freshness(report({ last_check_at: ago(60) }), 60, now).state).toBe("fresh");
    const stale = freshness(report({ last_check_at: ago(STALE_AFTER_TTLS * 60 + 1), last_error: "every upstream failed" }), 60, now);
    expect(stale.state).toBe("stale");
    expect(stale.why).toContain("every upstream failed");
  });

  it("is unpublished when nothing was published", () => {
    expect(freshness(report({ registries: [] }), 60, now).state).toBe("unpublished");
  });
});

describe("the status page", () => {
  it("says how to point Julia at this server, what is published, and this isolate's counts", async () => {
    const up = await upstream({ lists: { conservative: `${snap()}\n`, eager: `${snap()}\n` } });
    const m = testWorker({ UPSTREAM_SERVERS: up.url, BINARY_MIRRORS: "julialang2=https://julialang2.s3.amazonaws.com" });
    const before = await m.fetch("/");
    expect(before.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const unpublished = await before.text();
    expect(unpublished).toContain('class="badge unpublished"');
    expect(unpublished).toContain("the eager flavor is fetched by the first client that asks for it");
    await (await m.fetch("/registries.eager")).text();
    await m.settle();
    const html = await (await m.fetch("/")).text();
    expect(html).toContain("export JULIA_PKG_SERVER=http://pkgedge.test");
    expect(html).toContain('$env:JULIA_PKG_SERVER = "http://pkgedge.test"');
    expect(html).toContain('ENV["JULIA_PKG_SERVER"] = "http://pkgedge.test"');
    expect(html).toContain("<b>General</b><br><code>23338594-aafe-5451-b93e-139f81909106</code>");
    // No juliaup version database served from the mirror yet: offered for nightlies only.
    expect(html).toContain("JULIAUP_NIGHTLY_SERVER=http://pkgedge.test/mirror/julialang2");
    expect(html).not.toContain("<code>JULIAUP_SERVER=");
    await putObject("mirror/julialang2/juliaup/RELEASECHANNELDBVERSION", new TextEncoder().encode("1.0.17\n"), "text/plain");
    expect(await (await m.fetch("/")).text()).toContain("<code>JULIAUP_SERVER=http://pkgedge.test/mirror/julialang2</code>");
    expect(html).toContain(snap().slice(-40));
    expect(html).toMatch(/data-flavor="eager"[\s\S]*badge fresh/);
    expect(html).toContain(`<code>${up.url}</code>: no failure seen by this isolate`);
    expect(html).toMatch(/<td>negative<\/td><td>0<\/td>/);
    expect(html).toContain('<p id="prefetch">Off.</p>'); // PREFETCH=off in this project
    expect(html).not.toMatch(/<script|https?:\/\/(?!pkgedge\.test|127\.0\.0\.1|julialang2\.s3)/);
  });

  it("blames a failure on the upstream it names, not on one whose URL is a prefix of it", () => {
    const at = new Date().toISOString();
    const failures = [
      { at, key: "k1", detail: "http://a:8080: HEAD answered HTTP 503 Service Unavailable" },
      { at, key: "k2", detail: "http://b: connection refused; http://a:8080: timed out after 5000 ms" },
    ];
    const last = lastFailures(failures, ["http://a", "http://a:8080", "http://b"]);
    expect([...last.keys()].sort()).toEqual(["http://a:8080", "http://b"]);
    expect(last.get("http://a:8080")!.key).toBe("k2");
  });

  it("shows each upstream its own part of a failure that named several", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: "http://127.0.0.1:9,http://127.0.0.1:10" });
    await m.fetch(`/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`);
    const html = await (await m.fetch("/")).text();
    const items = [...html.matchAll(/<li><code>(http:\/\/127\.0\.0\.1:\d+)<\/code>: <span class="error">failed [^:]*: ([^<]*)<\/span>/g)];
    expect(items.map((i) => i[1])).toEqual(["http://127.0.0.1:9", "http://127.0.0.1:10"]);
    for (const [, up, said] of items) {
      expect(said ?? "", up).not.toContain("http://127.0.0.1:"); // its own part only, not every upstream's
      expect((said ?? "").length).toBeGreaterThan(0);
    }
  });

  it("shows a misconfigured server's problems as a list to a browser, and as JSON to a client", async () => {
    const m = testWorker({ REGISTRY_TTL_SECONDS: "-5", UPSTREAM_TIMEOUT_MS: "x" });
    const page = await m.fetch("/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
    expect(page.status).toBe(500);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<li><code>REGISTRY_TTL_SECONDS<\/code>: /);
    expect(html).toMatch(/<li><code>UPSTREAM_TIMEOUT_MS<\/code>: /);
    const json = await m.fetch("/registries", { headers: { accept: "application/json" } });
    expect(json.status).toBe(500);
    expect(((await json.json()) as { problems: unknown[] }).problems).toHaveLength(2);
    expect((await (await m.fetch("/meta")).json()) as object).toHaveProperty("problems");
  });

  it("charts this isolate's last 24 hours, saying whose they are, when Analytics Engine is not bound", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const pkg = `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;
    for (let i = 0; i < 3; i++) await (await m.fetch(pkg)).arrayBuffer(); // a miss, then two hits
    await (await m.fetch(`/package/${manifest.example.uuid}/${"0".repeat(40)}`)).arrayBuffer(); // not found
    const html = await (await m.fetch("/")).text();
    expect(html).toMatch(/Requests per hour seen by this isolate only, since [^;]*; bind Analytics Engine \(ANALYTICS\)/);
    const hours = [...html.matchAll(/data-requests="(\d+)"><title>([^<]*)<\/title>/g)];
    expect(hours).toHaveLength(24);
    expect(hours.reduce((n, h) => n + Number(h[1]), 0)).toBe(4);
    const busy = hours.filter((h) => h[1] !== "0");
    // In this hour (or, at an hour's turn, the last two).
    if (busy.length === 1) expect(busy[0]![2]).toMatch(/UTC: hit: 2, miss \(filled\): 1, not found: 1, [\d.]+ KiB sent$/);
    expect(hours.indexOf(busy.at(-1)!)).toBe(23);
    expect(html).toContain('<span class="key"><span class="swatch" style="background:#2e8b57"></span>hit</span>');
  });

  it("charts the whole deployment's hours from Analytics Engine when pkgedge may read it, and says why not when it may not", async () => {
    const sql = inject("analyticsSql");
    const vars = { ANALYTICS: { writeDataPoint() {} }, ANALYTICS_ACCOUNT_ID: sql.account, ANALYTICS_SQL_URL: sql.url };
    const html = await (await testWorker({ ...vars, ANALYTICS_API_TOKEN: sql.token }).fetch("/")).text();
    expect(html).toContain("Requests per hour, every isolate (Analytics Engine, sampled; times in UTC)");
    const hours = [...html.matchAll(/data-requests="(\d+)"><title>([^<]*)<\/title>/g)].map((h) => [Number(h[1]), h[2]]);
    // The fake's day: two hits, and five hours later five hits, three misses and a not-found.
    const busy = hours.flatMap((h, i) => (h[0] ? [i] : []));
    expect(busy).toHaveLength(2);
    expect(busy[1]! - busy[0]!).toBe(5);
    expect(hours[busy[0]!]).toEqual([2, expect.stringMatching(/UTC: hit: 2, 200 B sent$/)]);
    expect(hours[busy[1]!]).toEqual([9, expect.stringMatching(/UTC: hit: 5, miss \(filled\): 3, not found: 1, 800 B sent$/)]);
    expect(hours.reduce((n, h) => n + Number(h[0]), 0)).toBe(11);
    const refused = await (await testWorker({ ...vars, ANALYTICS_API_TOKEN: "wrong" }).fetch("/")).text();
    expect(refused).toMatch(/seen by this isolate only, since [^(]*\(Analytics Engine could not be asked: the SQL API answered 401/);
  });

  it("shows each binary mirror's latest failure, and which file it was for", async () => {
    const m = testWorker({ BINARY_MIRRORS: "rel=http://127.0.0.1:9,nightly=http://127.0.0.1:10", UPSTREAM_TIMEOUT_MS: "2000" });
    const res = await m.fetch("/mirror/rel/bin/linux/x64/1.10/julia-1.10.4-linux-x86_64.tar.gz");
    expect(res.status).toBeGreaterThanOrEqual(502);
    await res.arrayBuffer();
    const html = await (await m.fetch("/")).text();
    const rel = /<li data-mirror="rel">(.*?)<\/li>/.exec(html)?.[1] ?? "";
    expect(rel).toMatch(
      /<span class="error">failed \d+ s ago for <code>bin\/linux\/x64\/1\.10\/julia-1\.10\.4-linux-x86_64\.tar\.gz<\/code>: .+/,
    );
    expect(/<li data-mirror="nightly">(.*?)<\/li>/.exec(html)?.[1]).toContain("no failure seen by this isolate");
    // A mirror named as a prefix of another is not blamed for the other's failure.
    const at = new Date().toISOString();
    const last = mirrorFailures([{ at, key: "mirror/rel2/x", detail: "refused" }], ["rel", "rel2"]);
    expect([...last.keys()]).toEqual(["rel2"]);
  });

  it("escapes what it shows", () => {
    expect(esc(`<script>alert("x") & 'y'</script>`)).toBe("&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;");
  });
});
