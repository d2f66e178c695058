/** Sets the request's runtime, or answers that pkgedge is misconfigured, naming the variable. */

import { createMiddleware } from "hono/factory";
import { ConfigError } from "../config";
import { runtimeFor } from "../runtime";
import type { AppEnv } from "./context";

export const withRuntime = createMiddleware<AppEnv>(async (c, next) => {
  const rt = runtimeFor(c.env);
  if (rt instanceof ConfigError) {
    return c.json({ error: "pkgedge is misconfigured", variable: rt.variable, message: rt.message, problems: rt.problems }, 500);
  }
  c.set("rt", rt);
  await next();
});
