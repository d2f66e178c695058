/**
 * what workerd's own fetch does with an Authorization header on a redirect to
 * another origin. pkgedge sends secrets with plain fetch (redirects followed by the runtime) in
 * ops/rollups.ts (ANALYTICS_API_TOKEN to ANALYTICS_SQL_URL) and the S3 client.
 */

import { describe, expect, it } from "vitest";
import { manifest, upstream } from "../harness";

const pkg = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.2"]}`;

describe("workerd fetch and cross-origin redirects", () => {
  it("does not carry an Authorization header to another origin", async () => {
    const up = await upstream({ faults: { [pkg()]: "redirect-away" } });
    const res = await fetch(up.url + pkg(), { headers: { authorization: "Bearer plain-fetch-s3cr3t" } });
    await res.body?.cancel();
    const ownHost = new URL(up.url).host;
    const log = await up.log();
    const away = log.filter((r) => r.headers.host !== ownHost);
    expect(away.length, "the redirect was followed to the other origin").toBeGreaterThan(0);
    for (const r of away) expect(r.headers.authorization, `${r.method} ${r.path} on ${r.headers.host}`).toBeUndefined();
  });
});
