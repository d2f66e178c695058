/**
 * The status page at `/`: what this server is and how to point Julia at it, each flavor's
 * published registries and how fresh they are, the last refresh and its error, the upstreams'
 * and the binary mirrors' recent health, the last 24 hours' requests per hour (the whole deployment's
 * from Analytics Engine when pkgedge may read it, else this isolate's), and this isolate's answers by outcome. Plain HTML from the server: no script,
 * no external assets. It says what it does not know (counts are one isolate's, since it started).
 */

import type { Runtime, UpstreamFailure } from "../runtime";
import { analyticsHours, analyticsTotals, PKGEDGE_VERSION, prefetchReport, registriesReport, type FlavorReport } from "./meta";
import { chartLegend, hourlyChart } from "./chart";
import type { Progress } from "../prefetch/ledger";
import { esc } from "./html";

/** Registries pkgedge can name; any other is shown by its UUID. */
const REGISTRY_NAMES: Record<string, string> = { "23338594-aafe-5451-b93e-139f81909106": "General" };

/** A mirror whose bucket copy of this file exists has juliaup's version database (a release bucket). */
const JULIAUP_DB_POINTER = "juliaup/RELEASECHANNELDBVERSION";

/** A list not confirmed against upstream for this many registry TTLs is shown as stale. */
export const STALE_AFTER_TTLS = 3;

function age(iso: string | null, now = Date.now()): string {
  if (iso === null) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Fresh, stale (and why), or not published yet. */
export function freshness(
  report: FlavorReport,
  ttlSeconds: number,
  now = Date.now(),
  flavor = "conservative",
): { state: "fresh" | "stale" | "unpublished"; why: string } {
  if (report.registries.length === 0)
    return {
      state: "unpublished",
      why: report.last_error
        ? `nothing published: ${report.last_error}`
        : flavor === "eager"
          ? "nothing published yet: the eager flavor is fetched by the first client that asks for it (Julia-Registry-Preference: eager) or by the next cron round"
          : "nothing published yet (the first request for /registries, or the next cron round, fetches it)",
    };
  const checked = report.last_check_at ?? report.published_at;
  const limit = STALE_AFTER_TTLS * ttlSeconds * 1000;
  if (checked === null || now - Date.parse(checked) > limit) {
    return {
      state: "stale",
      why: `not confirmed against upstream for over ${STALE_AFTER_TTLS * ttlSeconds} s (last ${age(checked, now)})${report.last_error ? `; last error: ${report.last_error}` : ""}`,
    };
  }
  return { state: "fresh", why: `confirmed against upstream ${age(checked, now)}` };
}

/**
 * Each upstream's latest failure. A failure's detail is "<upstream>: <what happened>", joined with
 * "; " when several upstreams answered: matched whole, so http://a does not claim http://a:8080's.
 */
export function lastFailures(failures: readonly UpstreamFailure[], upstreams: readonly string[]): Map<string, UpstreamFailure> {
  const last = new Map<string, UpstreamFailure>();
  for (const f of failures) {
    for (const up of upstreams) if (f.detail.split("; ").some((part) => part.startsWith(`${up}: `))) last.set(up, f);
  }
  return last;
}

/** The latest failure of each binary mirror (its keys are `mirror/<name>/…`). */
export function mirrorFailures(failures: readonly UpstreamFailure[], names: readonly string[]): Map<string, UpstreamFailure> {
  const last = new Map<string, UpstreamFailure>();
  for (const f of failures) for (const name of names) if (f.key.startsWith(`mirror/${name}/`)) last.set(name, f);
  return last;
}

/** The 24-hour chart and what it counts: the deployment's hours when Analytics Engine gave them, else this isolate's. */
async function lastDay(rt: Runtime, waitUntil: (p: Promise<unknown>) => void): Promise<string> {
  const totals = await analyticsTotals(rt, waitUntil);
  const deployment = analyticsHours(totals);
  if (deployment) return `<p>Requests per hour, every isolate (Analytics Engine, sampled; times in UTC):</p>${hourlyChart(deployment)}`;
  const why =
    typeof totals === "object" && totals !== null && typeof totals.error === "string"
      ? ` (${esc(totals.error)})`
      : rt.analytics
        ? ""
        : "; bind Analytics Engine (ANALYTICS) for the whole deployment's";
  return `<p>Requests per hour seen by this isolate only, since ${esc(rt.counts.since.toISOString())}${why}; times in UTC:</p>${hourlyChart(rt.counts.lastDay())}`;
}

export async function statusPage(rt: Runtime, request: Request, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  const url = new URL(request.url);
  const server = url.origin + rt.config.pathPrefix;
  const reports = await registriesReport(rt);
  const c = rt.counts;
  const rows: string[] = [];
  for (const [flavor, report] of Object.entries(reports)) {
    const f = freshness(report, rt.config.registryTtlSeconds, Date.now(), flavor);
    const hashes =
      report.registries
        .map(
          (r) =>
            `${REGISTRY_NAMES[r.uuid] ? `<b>${esc(REGISTRY_NAMES[r.uuid])}</b><br>` : ""}<code>${esc(r.uuid)}</code><br><code>${esc(r.treeHash)}</code>`,
        )
        .join("<br>") || "—";
    rows.push(
      `<tr class="${f.state}" data-flavor="${esc(flavor)}"><td>${esc(flavor)}</td><td>${hashes}</td><td>${esc(age(report.published_at))}</td>` +
        `<td><span class="badge ${f.state}">${f.state}</span> ${esc(f.why)}</td><td>${esc(age(report.last_attempt_at))}${report.last_error && f.state === "fresh" ? `<br><span class="error">${esc(report.last_error)}</span>` : ""}</td></tr>`, // a stale or unpublished row's reason already quotes the error
    );
  }
  const prefetch = await prefetchReport(rt, reports);
  const snapshots = (prefetch.snapshots as (Progress & { registry: string })[])
    .map((s) => {
      const state = !s.plannedAt
        ? "not listed yet"
        : s.note && s.total === 0
          ? esc(s.note)
          : `${s.done} of ${s.total} in the bucket${s.pending ? `, ${s.pending} pending` : ""}`;
      const failed = s.failures.map((f) => `<br><span class="error">${esc(f.label)}: ${esc(f.error)}</span>`).join("");
      return `<li><code>${esc(s.registry.split("/").at(-1))}</code>: ${state}${s.failed ? `, <span class="error">${s.failed} failed</span>` : ""}${failed}</li>`;
    })
    .join("");
  const prefetchLine = rt.prefetch
    ? `<p>New snapshots' ${rt.config.prefetch.mode === "all" ? "package versions and artifacts" : "package versions"} are filled before clients ask${rt.config.prefetch.gate ? "; conservative clients get a snapshot once all of it is here" : ""}.</p><ul id="prefetch">${snapshots}</ul>`
    : `<p id="prefetch">Off${rt.config.prefetch.offBecause ? `: ${esc(rt.config.prefetch.offBecause)}` : ""}.</p>`;
  const failures = lastFailures(rt.upstreamFailures, rt.config.upstreams);
  const upstreams = rt.config.upstreams
    .map((up) => {
      const f = failures.get(up);
      // A failure's detail names every upstream that failed for that key: show each its own part.
      const own = f?.detail.split("; ").find((part) => part.startsWith(`${up}: `));
      const said = own ? own.slice(up.length + 2) : f?.detail;
      return `<li><code>${esc(up)}</code>: ${f ? `<span class="error">failed ${esc(age(f.at))}: ${esc(said)}</span>` : "no failure seen by this isolate"}</li>`;
    })
    .join("");
  const mirrorFailed = mirrorFailures(
    rt.upstreamFailures,
    rt.config.binaryMirrors.map((m) => m.name),
  );
  const mirrors = (
    await Promise.all(
      rt.config.binaryMirrors.map(async (m) => {
        const url = `${esc(server)}/mirror/${esc(m.name)}`;
        // Only a mirror that has served juliaup's version database can be JULIAUP_SERVER.
        const hasDb = await rt.store.head(`mirror/${m.name}/${JULIAUP_DB_POINTER}`).then(
          (info) => info !== null,
          () => false,
        );
        const use = hasDb
          ? `<code>JULIAUP_SERVER=${url}</code> (juliaup's releases: its version database is here)`
          : `<code>JULIAUP_NIGHTLY_SERVER=${url}</code> (juliaup's nightly channels; no juliaup version database has been served from it yet, so not for <code>JULIAUP_SERVER</code> until one is)`;
        const failed = mirrorFailed.get(m.name);
        // With AUTH=protocol the page is public: the file would say what token holders asked for.
        const what = rt.config.auth.mode === "protocol" ? "" : ` for <code>${esc(failed?.key.slice(`mirror/${m.name}/`.length))}</code>`;
        const health = failed
          ? `<span class="error">failed ${esc(age(failed.at))}${what}: ${esc(failed.detail)}</span>`
          : "no failure seen by this isolate";
        return `<li data-mirror="${esc(m.name)}">${use}; mirrors <code>${esc(m.base)}</code>. ${health}</li>`;
      }),
    )
  ).join("");
  const outcomes = Object.entries(c.outcomes)
    .map(([k, v]) => `<td>${esc(k)}</td><td>${v}</td>`)
    .join("</tr><tr>");
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pkgedge: a Julia package server</title><link rel="icon" href="data:,">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{font:13px ui-monospace,monospace;background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}
td,li,p{overflow-wrap:anywhere}td:first-child{overflow-wrap:normal;font-weight:600}
@media (max-width:40rem){#registries tr,#registries td{display:block}#registries th{display:none}#registries td{border:0;padding:.1em .4em}#registries tr{border-bottom:1px solid #ddd;padding:.4em 0}}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
.badge{font-weight:600;padding:0 .4em;border-radius:.3em}.badge.fresh{background:#d9f2d9}.badge.stale{background:#ffd9a8}.badge.unpublished{background:#eee}
.error{color:#a40000}
#hourly{max-width:100%;height:auto}.key{white-space:nowrap;margin-right:.8em}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}
</style></head>
<body>
<h1>pkgedge</h1>
<p>A Julia package server (pkgedge ${esc(PKGEDGE_VERSION)}). Point Julia at it:</p>
<ul id="configure">
<li>POSIX shells (bash, zsh): <code>export JULIA_PKG_SERVER=${esc(server)}</code></li>
<li>PowerShell: <code>$env:JULIA_PKG_SERVER = "${esc(server)}"</code></li>
<li>Julia's <code>~/.julia/config/startup.jl</code>: <code>ENV["JULIA_PKG_SERVER"] = "${esc(server)}"</code></li>
</ul>
${mirrors ? `<p>The Julia binaries are mirrored too:</p><ul id="mirrors">${mirrors}</ul>` : ""}
<h2>Registries</h2>
<table id="registries"><tr><th>flavor</th><th>published</th><th>since</th><th>freshness</th><th>last refresh</th></tr>${rows.join("")}</table>
<h2>Prefetching</h2>
${prefetchLine}
<h2>Upstreams</h2>
<ul id="upstreams">${upstreams}</ul>
<h2>Last 24 hours</h2>
${await lastDay(rt, waitUntil)}
<p id="legend">${chartLegend()}</p>
<h2>Answers</h2>
<p>This isolate's, since ${esc(c.since.toISOString())} (${c.requests} requests, ${c.broken} broken). Cloudflare runs many isolates, so these are a sample, not totals${rt.analytics ? "; Analytics Engine has every request (<code>npm run stats</code>)" : ""}.</p>
<table id="outcomes"><tr>${outcomes}</tr></table>
<p id="encodings">Tarballs answered as gzip: ${c.encodings.gzip}; as zstd: ${c.encodings.zstd} (zstd variants: ${esc(zstdMode(rt.config.zstd.mode))}).</p>
<p><a href="${esc(rt.config.pathPrefix)}/meta">/meta</a> · <a href="${esc(rt.config.pathPrefix)}/meta/stats">/meta/stats</a></p>
</body></html>`;
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

/** What ZSTD does, in a few words for the status page. */
function zstdMode(mode: "on" | "serve" | "off"): string {
  if (mode === "on") return "made for and served to clients that ask";
  return mode === "serve" ? "served when in the bucket, none made" : "off";
}
