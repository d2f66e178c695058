/**
 * The access log wraps everything: the request ID is echoed, tarball answers say X-Cache, and the
 * line is written once the body has been delivered or broke (see deliver).
 */

import { createMiddleware } from "hono/factory";
import type { Runtime } from "../runtime";
import { log } from "../log";
import { accessRecord, clientHash, requestIdOf, RequestNote, type CacheOutcome } from "../ops/access-log";
import { dataPoint } from "../ops/analytics";
import { deliver } from "../streams/bytes";
import { NOSNIFF } from "../protocol/media";
import { parseResourcePath } from "../protocol/paths";
import { sentPath } from "../protocol/request-path";
import type { AppEnv } from "./context";

const X_CACHE: Partial<Record<CacheOutcome, string>> = { hit: "HIT", redirect: "REDIRECT", miss: "MISS", joined: "JOINED" };

/** What kind of path this is, for the access log and analytics. */
function classify(path: string, note: RequestNote): void {
  const resource = parseResourcePath(path);
  if (resource) {
    note.kind = resource.kind;
    note.uuid = resource.uuid ?? null;
  } else if (path.startsWith("/mirror/")) note.kind = "mirror";
  else if (path === "/registries" || path.startsWith("/registries.")) note.kind = "registries";
}

export const accessLog = createMiddleware<AppEnv>(async (c, next) => {
  const startedAt = Date.now();
  const note = new RequestNote();
  c.set("note", note);
  classify(c.req.path, note);
  const requestId = requestIdOf(c.req.header("x-request-id") ?? null);
  await next();
  const res = c.res;
  const headers = new Headers(res.headers);
  headers.set("x-request-id", requestId);
  headers.set("x-content-type-options", NOSNIFF);
  const xCache = note.cache && X_CACHE[note.cache];
  if (xCache) headers.set("x-cache", xCache);
  const head = c.req.method === "HEAD";
  if (head) await res.body?.cancel();
  const declared = headers.get("content-length");
  const what = `${c.req.method} ${new URL(c.req.url).pathname}`;
  const { body, delivered } = deliver(head ? null : res.body, declared === null ? undefined : Number(declared), what);
  c.res = undefined;
  c.res = new Response(body, { status: res.status, statusText: res.statusText, headers });
  // Unset when the configuration is bad: the request is still logged.
  const rt = c.get("rt") as Runtime | undefined;
  const request = c.req.raw;
  c.executionCtx.waitUntil(
    delivered.then(async (d) => {
      const record = accessRecord(request, sentPath(request.url), res.status, note, d, startedAt, requestId);
      const address = request.headers.get("cf-connecting-ip");
      if (rt?.secrets.clientHashKey && address) record.client = await clientHash(rt.secrets.clientHashKey, address);
      const failed = record.broken || record.status >= 500;
      if (rt?.config.accessLog !== "off" && (failed || rt?.config.accessLog !== "errors"))
        log(failed ? "warn" : "info", "request", { ...record });
      rt?.counts.add(record);
      if (rt?.analytics && record.kind !== null) rt.analytics.writeDataPoint(dataPoint(record));
    }),
  );
});
