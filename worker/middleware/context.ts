/**
 * What the app's handlers share: the variables the middlewares set on a request's context, the
 * path the routes match, and what a route hands on to the code that answers it.
 */

import type { Context } from "hono";
import { ConfigError } from "../config";
import { mirrorDepsFor, runtimeFor, type MirrorDeps, type Runtime } from "../runtime";
import type { RequestNote } from "../ops/access-log";
import { parseMirrorPath } from "../mirror/path";
import { sentPath, withoutMountPrefix } from "../protocol/request-path";

/** `rt` is set by the runtime middleware, `note` by the access log. */
export type AppEnv = { Bindings: Env; Variables: { rt: Runtime; note: RequestNote } };

/** The path as sent, minus the mount prefix (Hono's getPath: c.req.path is this, computed once per request). */
export function rawPath(request: Request, options?: { env?: unknown }): string {
  const rt = options?.env ? runtimeFor(options.env as Env) : undefined;
  const prefix = rt && !(rt instanceof ConfigError) ? rt.config.pathPrefix : "";
  return withoutMountPrefix(sentPath(request.url), prefix);
}

export function deps(c: Context<AppEnv>): MirrorDeps {
  return mirrorDepsFor(c.get("rt"), (p) => c.executionCtx.waitUntil(p), c.get("note"));
}

/** A well-formed path of a configured binary mirror (anything else under /mirror/ is a 404). */
export function mirrorFileOf(c: Context<AppEnv>) {
  const file = parseMirrorPath(c.req.path);
  return file && c.get("rt").config.binaryMirrors.some((m) => m.name === file.mirror) ? file : null;
}
