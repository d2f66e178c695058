/** Only GET and HEAD are served: other methods get 405 on a path pkgedge serves, 404 elsewhere. */

import { createMiddleware } from "hono/factory";
import { isProtocolPath } from "../protocol/request-path";
import { notFound } from "../routes/tarball";
import { mirrorFileOf, type AppEnv } from "./context";

const METHODS = new Set(["GET", "HEAD"]);

function methodNotAllowed(): Response {
  return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
}

export const getAndHeadOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (!METHODS.has(c.req.method)) return isProtocolPath(c.req.path) || mirrorFileOf(c) ? methodNotAllowed() : notFound();
  await next();
});
