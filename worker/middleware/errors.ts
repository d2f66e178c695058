/** What a request that threw answers: a storage failure in the backend's own words, or an internal error. */

import type { ErrorHandler } from "hono";
import { log } from "../log";
import { StorageError } from "../store/store";
import { RevocationsUnreadable } from "../auth/revocation";
import type { AppEnv } from "./context";

export const errorAnswer: ErrorHandler<AppEnv> = (err, c) => {
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
  if (err instanceof RevocationsUnreadable) {
    // Designed: with no readable revocation list, no token is trusted (an operator repairs the file).
    log("error", "auth_revocations_unreadable", { path: c.req.path, message: err.message });
    return c.json({ error: "the token revocation list cannot be read", detail: err.message }, 500, { "cache-control": "no-store" });
  }
  log("error", "unhandled", { path: c.req.path, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  return c.json({ error: "internal error" }, 500);
};
