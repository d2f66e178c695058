/**
 * The Hono app: the middlewares in order, then protocol routes, then operator routes. Paths are
 * matched raw (never decoded), after an optional mount prefix, so only the exact grammar of protocol.md §2
 * reaches the bucket or upstream.
 */

import { Hono } from "hono";
import { chooseFlavor, FLAVORS } from "./protocol/flavors";
import { parseResourcePath } from "./protocol/paths";
import { serveTarball } from "./routes/tarball";
import { notFound } from "./routes/answers";
import { serveRegistryList } from "./registries/serve";
import { serveMirrorFile } from "./mirror/serve";
import { metrics } from "./ops/metrics";
import { mirrorFolder } from "./mirror/folder";
import { meta, metaJson, metaStats, robots } from "./ops/meta";
import { statusPage } from "./ops/status";
import { deps, mirrorFileOf, rawPath, type AppEnv } from "./middleware/context";
import { accessLog } from "./middleware/access-log";
import { withRuntime } from "./middleware/runtime";
import { getAndHeadOnly } from "./middleware/methods";
import { errorAnswer } from "./middleware/errors";
import { clientAuth } from "./middleware/auth";

export const app = new Hono<AppEnv>({ getPath: rawPath });

app.use("*", accessLog);
app.use("*", withRuntime);
app.use("*", clientAuth);
app.use("*", getAndHeadOnly);

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

app.get("/", (c) => statusPage(c.get("rt"), c.req.raw, (p) => c.executionCtx.waitUntil(p)));
app.get("/meta", (c) => meta(c.get("rt"), c.req.raw));
app.get("/meta/parents", (c) => metaJson(c.get("rt").config.upstreams));
app.get("/meta/children", () => metaJson([]));
app.get("/meta/siblings", (c) => metaJson(c.get("rt").config.siblings));
app.get("/meta/stats", (c) => metaStats(c.get("rt"), (p) => c.executionCtx.waitUntil(p)));
app.get("/metrics", (c) => metrics(c.get("rt"), c.req.raw, (p) => c.executionCtx.waitUntil(p)));
app.get("/robots.txt", () => robots());

app.get("/mirror/*", async (c) => {
  const file = mirrorFileOf(c);
  if (file) return serveMirrorFile(deps(c), c.get("rt").binaries, file, c.req.raw);
  return (await mirrorFolder(c.get("rt").config.binaryMirrors, c.req.path)) ?? notFound();
});

app.get("*", (c) => {
  const resource = parseResourcePath(c.req.path);
  if (!resource) return notFound();
  return serveTarball(deps(c), resource, c.req.raw);
});

app.onError(errorAnswer);
