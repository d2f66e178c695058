/**
 * The Hono app: protocol routes, then operator routes. Paths are matched raw (never decoded), after
 * an optional mount prefix, so only the exact grammar of spec §2 reaches the bucket or upstream.
 */

import { Hono, type Context } from "hono";
import { ConfigError } from "./config";
import { mirrorDepsFor, runtimeFor, type MirrorDeps, type Runtime } from "./runtime";
import { chooseFlavor, FLAVORS } from "./protocol/flavors";
import { parseResourcePath } from "./protocol/paths";
import { serveTarball } from "./routes/tarball";
import { notFound } from "./routes/answers";
import { serveRegistryList } from "./registries/serve";
import { parseMirrorPath } from "./mirror/path";
import { serveMirrorFile } from "./mirror/serve";
import { meta, metaJson, metaStats, robots } from "./ops/meta";
import { statusPage } from "./ops/status";
import { log } from "./log";
import { accessRecord, clientHash, requestIdOf, RequestNote, type CacheOutcome } from "./ops/access-log";
import { deliver } from "./streams/bytes";
import { dataPoint } from "./ops/analytics";
import { StorageError } from "./store/store";
import { NOSNIFF } from "./protocol/media";

type AppEnv = { Bindings: Env; Variables: { rt: Runtime; note: RequestNote } };

/** The path as sent, without query or fragment. */
function sentPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** The path as sent, minus the mount prefix ("//" matches no route). */
function rawPath(request: Request, options?: { env?: unknown }): string {
  const path = sentPath(request.url);
  const rt = options?.env ? runtimeFor(options.env as Env) : undefined;
  const prefix = rt && !(rt instanceof ConfigError) ? rt.config.pathPrefix : "";
  if (prefix === "") return path;
  if (path === prefix) return "/";
  return path.startsWith(prefix + "/") ? path.slice(prefix.length) : "//";
}

function deps(c: Context<AppEnv>): MirrorDeps {
  return mirrorDepsFor(c.get("rt"), (p) => c.executionCtx.waitUntil(p), c.get("note"));
}

const METHODS = new Set(["GET", "HEAD"]);

function methodNotAllowed(): Response {
  return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
}

function isProtocolPath(path: string): boolean {
  return path === "/registries" || FLAVORS.some((f) => path === `/registries.${f}`) || parseResourcePath(path) !== null;
}

/** A well-formed path of a configured binary mirror (anything else under /mirror/ is a 404). */
function mirrorFileOf(c: Context<AppEnv>) {
  const file = parseMirrorPath(c.req.path);
  return file && c.get("rt").config.binaryMirrors.some((m) => m.name === file.mirror) ? file : null;
}

export const app = new Hono<AppEnv>({ getPath: rawPath });

const X_CACHE: Partial<Record<CacheOutcome, string>> = { hit: "HIT", miss: "MISS", joined: "JOINED" };

/** What kind of path this is, for the access log and analytics. */
function classify(path: string, note: RequestNote): void {
  const resource = parseResourcePath(path);
  if (resource) {
    note.kind = resource.kind;
    note.uuid = resource.uuid ?? null;
  } else if (path.startsWith("/mirror/")) note.kind = "mirror";
  else if (path === "/registries" || path.startsWith("/registries.")) note.kind = "registries";
}

/**
 * The access log wraps everything: the request ID is echoed, tarball answers say X-Cache, and the
 * line is written once the body has been delivered or broke (see deliver).
 */
app.use("*", async (c, next) => {
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
  const { body, delivered } = deliver(head ? null : res.body, declared === null ? undefined : Number(declared), note.cache === "hit");
  c.res = undefined;
  c.res = new Response(body, { status: res.status, statusText: res.statusText, headers });
  const rt = c.get("rt") as Runtime | undefined;
  const request = c.req.raw;
  c.executionCtx.waitUntil(
    delivered.then(async (d) => {
      const record = accessRecord(request, sentPath(request.url), res.status, note, d, startedAt, requestId);
      const address = request.headers.get("cf-connecting-ip");
      if (rt?.clientHashKey && address) record.client = await clientHash(rt.clientHashKey, address);
      const failed = record.broken || record.status >= 500;
      if (rt?.config.accessLog !== "off" && (failed || rt?.config.accessLog !== "errors"))
        log(failed ? "warn" : "info", "request", { ...record });
      rt?.counts.add(record);
      if (rt?.analytics && record.kind !== null) rt.analytics.writeDataPoint(dataPoint(record));
    }),
  );
});

app.use("*", async (c, next) => {
  const rt = runtimeFor(c.env);
  if (rt instanceof ConfigError) {
    return c.json({ error: "pkgedge is misconfigured", variable: rt.variable, message: rt.message, problems: rt.problems }, 500);
  }
  c.set("rt", rt);
  // c.req.path is rawPath's answer (Hono's getPath), computed once per request.
  if (!METHODS.has(c.req.method)) return isProtocolPath(c.req.path) || mirrorFileOf(c) ? methodNotAllowed() : notFound();
  await next();
});

app.get("/registries", (c) => {
  const flavor = chooseFlavor(c.req.header("julia-registry-preference") ?? null, c.req.header("julia-ci-variables") ?? null);
  return new Response(null, {
    status: 302,
    headers: { location: `${c.get("rt").config.pathPrefix}/registries.${flavor}`, "cache-control": "no-store" },
  });
});

for (const flavor of FLAVORS) {
  app.get(`/registries.${flavor}`, (c) => serveRegistryList(deps(c), c.get("rt").registries, flavor, c.req.raw));
}

app.get("/", (c) => statusPage(c.get("rt"), c.req.raw));
app.get("/meta", (c) => meta(c.get("rt"), c.req.raw));
app.get("/meta/parents", (c) => metaJson(c.get("rt").config.upstreams));
app.get("/meta/children", () => metaJson([]));
app.get("/meta/siblings", (c) => metaJson(c.get("rt").config.siblings));
app.get("/meta/stats", (c) => metaStats(c.get("rt"), (p) => c.executionCtx.waitUntil(p)));
app.get("/robots.txt", () => robots());

app.get("/mirror/*", (c) => {
  const file = mirrorFileOf(c);
  return file ? serveMirrorFile(deps(c), c.get("rt").binaries, file, c.req.raw) : notFound();
});

app.get("*", (c) => {
  const resource = parseResourcePath(c.req.path);
  if (!resource) return notFound();
  return serveTarball(deps(c), resource, c.req.raw);
});

app.onError((err, c) => {
  if (err instanceof StorageError && err.refusal) {
    // The backend says what was refused and which settings hold it.
    log("error", "storage_refused", { message: err.message });
    return c.json({ error: err.refusal.error, variable: err.refusal.variables.join(", "), detail: err.message }, 500);
  }
  if (err instanceof StorageError) {
    // The bucket failed or did not answer in time (after its retries): unavailable, not our bug.
    log("error", "storage_unavailable", { path: c.req.path, message: err.message });
    return c.json({ error: "the bucket is unavailable", detail: err.message }, 503, { "cache-control": "no-store", "retry-after": "5" });
  }
  log("error", "unhandled", { path: c.req.path, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  return c.json({ error: "internal error" }, 500);
});
