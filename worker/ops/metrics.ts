/**
 * `/metrics`: the figures a Prometheus scraper (what PkgServer.jl deployments watch) can be told
 * honestly at the edge. A deployment runs many isolates, each with its own counters, so none of
 * those is exported as a total: the request figures are the whole deployment's last 24 hours from
 * Analytics Engine (sampled, cached per isolate for ANALYTICS_TOTALS_TTL_MS, so a scrape costs at
 * most one SQL query a minute per isolate), as gauges. Off unless the secret METRICS_TOKEN is set;
 * a scraper sends it as a bearer token.
 */

import type { Runtime } from "../runtime";
import { analyticsTotals, PKGEDGE_VERSION } from "./meta";

const TEXT = "text/plain; version=0.0.4; charset=utf-8";

export async function metrics(rt: Runtime, request: Request, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  const token = rt.secrets.metricsToken;
  if (!token) return new Response(null, { status: 404, headers: { "cache-control": "no-store" } });
  if (!(await bearerMatches(request.headers.get("authorization"), token))) {
    return new Response("/metrics needs the deployment's METRICS_TOKEN as a bearer token (Authorization: Bearer <token>).\n", {
      status: 401,
      headers: {
        "www-authenticate": 'Bearer realm="pkgedge metrics"',
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  }
  const totals = await analyticsTotals(rt, waitUntil);
  return new Response(render(totals), { headers: { "content-type": TEXT, "cache-control": "no-store" } });
}

/** The exposition: build info, whether deployment-wide figures were available, and those figures. */
function render(totals: Awaited<ReturnType<typeof analyticsTotals>>): string {
  const lines = [
    "# HELP pkgedge_build_info The pkgedge version serving this scrape.",
    "# TYPE pkgedge_build_info gauge",
    `pkgedge_build_info{version="${label(PKGEDGE_VERSION)}"} 1`,
    "# HELP pkgedge_analytics_available Whether the figures below could be read from Analytics Engine (0: not configured, or the query failed).",
    "# TYPE pkgedge_analytics_available gauge",
  ];
  const figures = typeof totals === "object" && totals !== null && !("error" in totals) ? totals : null;
  lines.push(`pkgedge_analytics_available ${figures ? 1 : 0}`);
  if (!figures) return `${lines.join("\n")}\n`;
  lines.push(
    "# HELP pkgedge_requests_24h Requests in the last 24 hours, every isolate (Analytics Engine, sampled), by cache outcome.",
    "# TYPE pkgedge_requests_24h gauge",
  );
  for (const [outcome, n] of Object.entries((figures.outcomes ?? {}) as Record<string, number>)) {
    lines.push(`pkgedge_requests_24h{outcome="${label(outcome)}"} ${Number(n)}`);
  }
  lines.push(
    "# HELP pkgedge_response_bytes_24h Body bytes sent in the last 24 hours, every isolate (Analytics Engine, sampled).",
    "# TYPE pkgedge_response_bytes_24h gauge",
    `pkgedge_response_bytes_24h ${Number(figures.bytes ?? 0)}`,
  );
  return `${lines.join("\n")}\n`;
}

function label(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** Compares the bearer token in constant time (over digests, so the lengths do not show either). */
async function bearerMatches(header: string | null, token: string): Promise<boolean> {
  const sent = /^Bearer (.+)$/i.exec(header ?? "")?.[1] ?? "";
  const digest = async (s: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  const [a, b] = await Promise.all([digest(sent), digest(token)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0 && sent !== "";
}
