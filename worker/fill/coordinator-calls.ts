/**
 * How the worker reaches a resource's fill coordinator (a Durable Object per resource, over RPC):
 * to learn whether upstream has it (HEAD), to stream it (GET, ranges), to have it committed
 * (registry tarballs before a list is published), or to revalidate a binary-mirror copy.
 */

import type { Resource } from "../protocol/paths";
import type { Config } from "../config";
import type { FillCoordinator } from "./coordinator";
import { tarballSpec, type FillSpec } from "./target";
import type { UpstreamHeaders, Validators } from "../upstream/upstream";
import type { Transcoded } from "../variants/zstd-variant";

/** A binary-mirror copy the worker holds, as the worker found it in the bucket. */
export interface HeldCopy {
  bucketEtag: string;
  validators: Validators;
  /** How long (s) a finding that the copy is current holds: the file's lifetime under the mirror's freshness rule. */
  lifetimeSeconds: number;
}

/**
 * How long (s) a finding that `held` is current holds. A worker of the previous version (during a
 * rollout) sends no lifetime: its finding then holds for no time, so the copy is asked about again
 * rather than served past a lifetime the coordinator does not know.
 */
export function lifetimeOf(held: HeldCopy): number {
  return held.lifetimeSeconds ?? 0;
}

/** An upstream failure (not an absence): answered 502 with Retry-After, remembered only briefly. */
export type Unavailable = { detail: string; retryAfterSeconds: number };

export type Located =
  | { found: true; length: number | undefined }
  | { found: false; unavailable: false }
  | ({ found: false; unavailable: true } & Unavailable);

export type Streamed =
  /** `status`: the binary mirror's upstream answer (404, 403, 410); tarballs are always 404. */
  | { kind: "not-found"; status?: number }
  /** The bucket's copy turned out to be current while this was asked: read it there. */
  | { kind: "in-bucket" }
  | ({ kind: "upstream-failed" } & Unavailable)
  | { kind: "unsatisfiable"; length: number }
  | {
      kind: "streaming";
      /** The length the fill really has (the GET's, which may differ from an earlier HEAD's). */
      length: number | undefined;
      /** What the upstream said about the body (used by the binary mirror). */
      headers: UpstreamHeaders;
      /** The upstream the fill reads from. */
      upstream: string;
      /** This requester joined a fill another request had started (or one already done). */
      joined: boolean;
      /** Set when a Range was asked for and satisfiable: the bytes [start, end] are streamed. */
      range?: { start: number; end: number };
      /** Carries its length when the length is known (see Outlet), so it is sent with a Content-Length. */
      body: ReadableStream<Uint8Array>;
    };

/**
 * A cold whole-tarball GET that waited for its fill: `verified` means the fill committed and the
 * bucket holds the verified copy (`upstream` supplied it); otherwise as `stream` answers, streaming
 * when the wait ran out or the object is too large to wait for.
 */
export type Verified = Streamed | { kind: "verified"; upstream: string; joined: boolean };

/** `bytes`: what the fill stored (0 when it was in the bucket already); `absent`: no upstream has it (404 everywhere). */
export type Committed = { committed: true; bytes: number } | { committed: false; reason: string; absent: boolean };

/** A held binary-mirror copy is current until `until` (ms), or was replaced, or could not be checked. */
export type Revalidated = { kind: "fresh"; until: number } | { kind: "stale"; detail: string } | Streamed;

export interface Fills {
  locate(resource: Resource): Promise<Located>;
  /** The whole object, or the range a `Range` header asks for. */
  stream(resource: Resource, rangeHeader?: string | null): Promise<Streamed>;
  /** The whole object, once verified and stored where the requester can wait for that (VERIFY_FIRST_*). */
  streamVerified(resource: Resource): Promise<Verified>;
  commit(resource: Resource): Promise<Committed>;
  /** Makes the tarball's zstd variant from its gzip copy, if it has none (ZSTD=on). */
  transcode(resource: Resource): Promise<Transcoded>;
  /** A binary-mirror file the bucket lacks (spec.kind "mirror"). */
  streamFile(spec: FillSpec & { kind: "mirror" }, rangeHeader: string | null): Promise<Streamed>;
  /** A binary-mirror copy that is not what versions.json lists (`spec.published`): fetched again, checked, and replaced. */
  refillFile(spec: FillSpec & { kind: "mirror" }, rangeHeader: string | null): Promise<Streamed>;
  /** A binary-mirror copy older than its TTL. */
  revalidateFile(spec: FillSpec & { kind: "mirror" }, held: HeldCopy, rangeHeader: string | null): Promise<Revalidated>;
}

/**
 * The object's name includes where it is filled from (the upstreams, or the mirrored bucket), so a
 * change of upstreams starts from fresh memory.
 */
export function coordinatedFills(namespace: DurableObjectNamespace<FillCoordinator>, config: Config): Fills {
  const byName = (name: string) => namespace.get(namespace.idFromName(name));
  const stub = (resource: Resource) => byName(`${config.upstreams.join(",")} ${resource.key}`);
  const fileStub = (spec: FillSpec & { kind: "mirror" }) => {
    const base = config.binaryMirrors.find((m) => m.name === spec.mirror)?.base ?? "";
    return byName(`${base} mirror/${spec.mirror}/${spec.path}`);
  };
  return {
    locate: (resource) => stub(resource).locate(config, tarballSpec(resource)),
    stream: (resource, rangeHeader) => stub(resource).stream(config, tarballSpec(resource), rangeHeader ?? null),
    streamVerified: (resource) => stub(resource).streamVerified(config, tarballSpec(resource)),
    commit: (resource) => stub(resource).commit(config, tarballSpec(resource)),
    transcode: (resource) => stub(resource).transcode(config, tarballSpec(resource)),
    streamFile: (spec, rangeHeader) => fileStub(spec).stream(config, spec, rangeHeader),
    refillFile: (spec, rangeHeader) => fileStub(spec).refill(config, spec, rangeHeader),
    revalidateFile: (spec, held, rangeHeader) => fileStub(spec).revalidate(config, spec, held, rangeHeader),
  };
}
