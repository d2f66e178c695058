/** Sets the request's runtime, or answers that pkgedge is misconfigured, naming the variable. */

import { createMiddleware } from "hono/factory";
import { ConfigError } from "../config";
import { runtimeFor } from "../runtime";
import type { AppEnv } from "./context";
import { esc } from "../ops/html";

function wantsHtml(accept: string | undefined): boolean {
  return /\btext\/html\b/.test(accept ?? "") && !/\bapplication\/json\b/.test(accept ?? "");
}

function misconfiguredPage(err: ConfigError): string {
  const items = err.problems.map((p) => `<li><code>${esc(p.variable)}</code>: ${esc(p.message)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>pkgedge is misconfigured</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}code{overflow-wrap:anywhere}</style></head>
<body><h1>pkgedge is misconfigured</h1><p>Every request answers 500 until these are fixed (in <code>wrangler.toml</code>, <code>.dev.vars</code> or the deployment's secrets):</p>
<ul id="problems">${items}</ul></body></html>`;
}

export const withRuntime = createMiddleware<AppEnv>(async (c, next) => {
  const rt = runtimeFor(c.env);
  if (rt instanceof ConfigError) {
    // A person in a browser reads a list; a client (or anything asking for JSON) gets JSON.
    if (wantsHtml(c.req.header("accept"))) return c.html(misconfiguredPage(rt), 500, { "cache-control": "no-store" });
    return c.json({ error: "pkgedge is misconfigured", variable: rt.variable, message: rt.message, problems: rt.problems }, 500);
  }
  c.set("rt", rt);
  await next();
});
