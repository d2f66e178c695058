/**
 * How the worker reaches a resource's fill coordinator (a Durable Object per resource, over RPC):
 * to learn whether upstream has it (HEAD), to stream it (GET, ranges), or to have it committed
 * (registry tarballs before a list is published).
 */

import type { Resource } from "../routes/grammar";
import type { Config } from "../config";
import type { FillCoordinator } from "./coordinator";

/** An upstream failure (not an absence): answered 502 with Retry-After, remembered only briefly. */
export type Unavailable = { detail: string; retryAfterSeconds: number };

export type Located = { found: true; length: number | undefined } | { found: false; unavailable: false } | ({ found: false; unavailable: true } & Unavailable);

export type Streamed =
  | { kind: "not-found" }
  | ({ kind: "upstream-failed" } & Unavailable)
  | { kind: "unsatisfiable"; length: number }
  | {
      kind: "streaming";
      /** The length the fill really has (the GET's, which may differ from an earlier HEAD's). */
      length: number | undefined;
      /** Set when a Range was asked for and satisfiable: the bytes [start, end] are streamed. */
      range?: { start: number; end: number };
      /** Carries its length when the length is known (see Outlet), so it is sent with a Content-Length. */
      body: ReadableStream<Uint8Array>;
    };

export type Committed = { committed: true } | { committed: false; reason: string };

export interface Fills {
  locate(resource: Resource): Promise<Located>;
  /** The whole object, or the range a `Range` header asks for. */
  stream(resource: Resource, rangeHeader?: string | null): Promise<Streamed>;
  commit(resource: Resource): Promise<Committed>;
}

/** The object's name includes the upstreams, so a change of upstreams starts from fresh memory. */
export function coordinatedFills(namespace: DurableObjectNamespace<FillCoordinator>, config: Config): Fills {
  const stub = (resource: Resource) => namespace.get(namespace.idFromName(`${config.upstreams.join(",")} ${resource.key}`));
  return {
    locate: (resource) => stub(resource).locate(config, resource.key),
    stream: (resource, rangeHeader) => stub(resource).stream(config, resource.key, rangeHeader ?? null),
    commit: (resource) => stub(resource).commit(config, resource.key),
  };
}
