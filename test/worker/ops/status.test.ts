/** The status page at `/`: what it says about registries (fresh, stale, unpublished), upstreams and counts. */

import { describe, expect, it } from "vitest";
import { manifest, testWorker, upstream } from "../harness";
import { esc, freshness, lastFailures, STALE_AFTER_TTLS } from "../../../worker/ops/status";
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
    expect(await before.text()).toContain('class="badge unpublished"');
    await (await m.fetch("/registries.eager")).text();
    await m.settle();
    const html = await (await m.fetch("/")).text();
    expect(html).toContain("export JULIA_PKG_SERVER=http://pkgedge.test");
    expect(html).toContain("JULIAUP_SERVER=http://pkgedge.test/mirror/julialang2");
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

  it("escapes what it shows", () => {
    expect(esc(`<script>alert("x") & 'y'</script>`)).toBe("&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;");
  });
});
