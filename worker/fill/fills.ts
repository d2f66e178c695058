/**
 * How the worker reaches a resource's fill coordinator (a Durable Object per resource): to learn
 * whether upstream has it (HEAD), to stream it (GET, ranges), or to have it committed (registry
 * tarballs before a list is published).
 */

import type { Resource } from "../routes/grammar";
import { FILL_REQUEST, FILL_RESPONSE } from "./coordinator";

export type Located = { found: false } | { found: true; length: number | undefined };

export type Streamed =
  | { kind: "not-found" }
  | { kind: "upstream-failed"; detail: string }
  | { kind: "streaming"; length: number | undefined; body: ReadableStream<Uint8Array> };

export type Committed = { committed: true } | { committed: false; reason: string };

export interface Fills {
  locate(resource: Resource): Promise<Located>;
  /** Bytes [start, end] (inclusive; the whole object by default). */
  stream(resource: Resource, range?: { start: number; end: number }): Promise<Streamed>;
  commit(resource: Resource): Promise<Committed>;
}

function lengthOf(res: Response): number | undefined {
  const raw = res.headers.get(FILL_RESPONSE.length);
  return raw === null ? undefined : Number(raw);
}

/**
 * `vars` are the configuration variables the worker parsed, passed along so the coordinator acts
 * on exactly the worker's configuration. The object's name includes the upstreams, so a change of
 * upstreams starts from fresh memory.
 */
export function coordinatedFills(namespace: DurableObjectNamespace, upstreams: readonly string[], vars: Record<string, string>): Fills {
  const config = JSON.stringify(vars);
  const call = (resource: Resource, mode: string, extra: Record<string, string> = {}) => {
    const stub = namespace.get(namespace.idFromName(`${upstreams.join(",")} ${resource.key}`));
    return stub.fetch(`https://fill/${resource.key}`, { headers: { [FILL_REQUEST.config]: config, [FILL_REQUEST.mode]: mode, ...extra } });
  };
  return {
    async locate(resource) {
      const res = await call(resource, "head");
      await res.body?.cancel();
      return res.status === 200 ? { found: true, length: lengthOf(res) } : { found: false };
    },
    async stream(resource, range) {
      const extra: Record<string, string> = range ? { [FILL_REQUEST.start]: String(range.start), [FILL_REQUEST.end]: String(range.end) } : {};
      const res = await call(resource, "stream", extra);
      if (res.status === 404) return { kind: "not-found" };
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        return { kind: "upstream-failed", detail: res.headers.get("x-pkgedge-detail") ?? `status ${res.status}` };
      }
      return { kind: "streaming", length: lengthOf(res), body: res.body };
    },
    async commit(resource) {
      const res = await call(resource, "commit");
      if (res.status === 404) return { committed: false, reason: "no upstream has it" };
      if (res.status !== 200) return { committed: false, reason: res.headers.get("x-pkgedge-detail") ?? `status ${res.status}` };
      const outcome = (await res.json()) as { committed: boolean; reason?: string };
      return outcome.committed ? { committed: true } : { committed: false, reason: outcome.reason ?? "rejected" };
    },
  };
}
