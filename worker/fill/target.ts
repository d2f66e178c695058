/**
 * What a fill fetches, how it begins, where it keeps it, and how its bytes are checked. Two kinds
 * of object go through the same single-flight, streaming, verified fill: the Pkg protocol's
 * content-addressed tarballs (found by a HEAD to each upstream, checked against their git tree
 * hash) and the binary mirror's files (one GET of their one upstream, checked against the sha256
 * and size their publisher lists, when it lists them; otherwise by length only).
 *
 * A FillSpec is the plain value that crosses to a resource's coordinator over RPC; the target is
 * rebuilt from it there with the coordinator's copy of the configuration.
 */

import type { Config } from "../config";
import { parseResourcePath, type Resource } from "../protocol/paths";
import { TARBALL_CONTENT_TYPE, UNTYPED_CONTENT_TYPE } from "../protocol/media";
import { mirrorKey } from "../mirror/path";
import { answerRemovesCopy } from "../mirror/freshness";
import { MAX_VERSIONS_BYTES, VERSIONS_PATH, type Published } from "../mirror/versions";
import type { UpstreamBody, Validators } from "../upstream/upstream";
import type { BodyCheck } from "./gate";
import type { PutOptions } from "../store/store";
import { publishedDigestCheck, treeHashCheck, versionsDocumentCheck } from "./checks";
import { fillFromBody, fillFromUpstream, oversize, type FillDeps, type FillOptions, type FillStart } from "./fill";
import { getOnly, outage, recalled, type Location } from "./locate";
import { isAbsent, isAnswerAboutPath } from "../upstream/upstream";
import { backoffLeftSeconds, type Attempts } from "./attempts";
import type { Unavailable } from "./coordinator-calls";
import type { SharedFillOptions } from "./shared/shared-fill";
import { log } from "../log";

export type FillSpec =
  | { kind: "tarball"; key: string }
  /** `published`: what the mirror's versions.json says the file is, when it lists it. */
  | { kind: "mirror"; mirror: string; path: string; published?: Published };

export interface FillTarget {
  spec: FillSpec;
  /** The bucket key (and the name in logs). */
  key: string;
  /** Asked of each upstream, after its base URL. */
  path: string;
  upstreams: readonly string[];
  /** The length the body must have, when something other than its Content-Length says so. */
  expectedLength?: number;
  /** The most bytes this object may have (besides FILL_MAX_BYTES), and what sets that limit. */
  maxLength?: { bytes: number; why: string };
  /** The check beyond the length check, if any. */
  check(config: Config): BodyCheck | null;
  /** How the committed object is written: its Content-Type and what is kept with it. */
  putOptions(response: UpstreamBody): PutOptions;
  /** How a fill of it begins: an answer without a fill, or a fill ready to start. */
  begin(context: BeginContext): Promise<Beginning>;
  /** Whether the upstream's "not there" (`status`) to revalidating a copy the bucket holds means the copy goes too. */
  answerRemovesCopy(status: number): boolean;
}

/** What a fill's beginning needs from the resource's coordinator. */
interface BeginContext {
  deps: FillDeps;
  /** The fills of this key that failed in a row (the backoff). */
  attempts: Attempts;
  /** Which upstreams have it (the coordinator runs one probe at a time per resource). */
  locate(): Promise<Location>;
  /** Set when a copy the bucket holds is being revalidated: the GET is conditional. */
  validators?: Validators;
}

/** An answer that needs no fill. `status`: the binary mirror's upstream answer (404, 403, 410). */
export type NoFill =
  | { kind: "not-found"; status?: number }
  | ({ kind: "upstream-failed" } & Unavailable)
  /** A conditional GET (revalidating a binary-mirror copy) answered 304: the copy is current. */
  | { kind: "not-modified" };

type Beginning = NoFill | { kind: "ready"; start(options: FillOptions): Promise<FillStart> | FillStart };

/** The names of what a copy keeps with it (lowercase: S3 folds metadata names). */
export const COPY_META = {
  upstream: "upstream",
  fetchedAt: "fetched-at",
  etag: "etag",
  lastModified: "last-modified",
  sha256: "sha256",
} as const;

export function tarballSpec(resource: Resource): FillSpec {
  return { kind: "tarball", key: resource.key };
}

/** The target a spec names under this configuration; a TypeError for one that names nothing. */
export function targetFor(config: Config, spec: FillSpec): FillTarget {
  if (spec.kind === "tarball") {
    const resource = parseResourcePath("/" + spec.key);
    if (!resource) throw new TypeError(`not a resource key: ${JSON.stringify(spec.key)}`);
    const target: FillTarget = {
      spec,
      key: resource.key,
      path: "/" + resource.key,
      upstreams: config.upstreams,
      check: (c) =>
        treeHashCheck(resource, {
          maxEntries: c.verifyMaxEntries,
          maxRatio: c.verifyMaxRatio,
          maxDecompressedBytes: c.verifyMaxDecompressedBytes,
        }),
      putOptions: (response) => ({
        contentType: TARBALL_CONTENT_TYPE,
        customMetadata: { [COPY_META.upstream]: response.upstream, [COPY_META.fetchedAt]: new Date().toISOString() },
      }),
      begin: (context) => beginTarball(target, context),
      // Tarballs never change: no answer about one removes its copy.
      answerRemovesCopy: () => false,
    };
    return target;
  }
  const mirror = config.binaryMirrors.find((m) => m.name === spec.mirror);
  if (!mirror) throw new TypeError(`no binary mirror is named ${JSON.stringify(spec.mirror)}`);
  const published = spec.published;
  const isVersions = spec.path === VERSIONS_PATH;
  const target: FillTarget = {
    spec,
    key: mirrorKey(mirror.name, spec.path),
    path: "/" + spec.path,
    upstreams: [mirror.base],
    expectedLength: published?.size,
    maxLength: isVersions ? { bytes: MAX_VERSIONS_BYTES, why: "the most a versions.json may have" } : undefined,
    check: () => (isVersions ? versionsDocumentCheck(MAX_VERSIONS_BYTES) : published ? publishedDigestCheck(published) : null),
    putOptions: (response) => ({
      contentType: response.headers.contentType ?? UNTYPED_CONTENT_TYPE,
      customMetadata: mirrorMetadata(response, published),
    }),
    begin: (context) => beginMirrorFile(target, context),
    answerRemovesCopy: (status) => answerRemovesCopy(spec.path, status),
  };
  return target;
}

/**
 * A tarball: the upstreams are probed (HEAD), then the fill GETs from the first that has it. With
 * one upstream there is nobody to choose between: its GET is the probe, a round trip fewer before
 * the first byte (a 404 or 410 is an absence, anything else an outage, as a probe reads them).
 */
async function beginTarball(target: FillTarget, context: BeginContext): Promise<Beginning> {
  const { deps, attempts, locate } = context;
  // Memory of a probe (a cold HEAD asked first) already says where and how large: no GET needed to learn it.
  if (target.upstreams.length === 1 && deps.recent.lookup(target.key)?.kind !== "hits") return beginWithGet(target, context, isAbsent);
  const location = await locate();
  if (location.kind === "absent") return { kind: "not-found" };
  if (location.kind === "unavailable") return { kind: "upstream-failed", ...outage(deps.config, location.errors) };
  const refused = refusal(deps.config, target, location.hits[0]!.length, attempts);
  if (refused) return { kind: "upstream-failed", ...refused };
  return { kind: "ready", start: (options) => fillFromUpstream(deps, target, options, location) };
}

/** A binary-mirror file: one GET of its one upstream, whose status is the answer when it is not a body. */
function beginMirrorFile(target: FillTarget, context: BeginContext): Promise<Beginning> {
  return beginWithGet(target, context, isAnswerAboutPath);
}

/** One GET of the target's one upstream; `absent` says which of its statuses mean it is not there. */
async function beginWithGet(
  target: FillTarget,
  { deps, attempts, validators }: BeginContext,
  absent: (status: number, upstream: string) => boolean,
): Promise<Beginning> {
  const known = recalled(deps, target);
  if (known) return known;
  const refused = refusal(deps.config, target, undefined, attempts);
  if (refused) return { kind: "upstream-failed", ...refused };
  const answer = await getOnly(deps, target, validators, absent);
  if (answer.kind !== "body") return answer;
  // Remembered as a probe's answer is: a cold HEAD meanwhile answers from it, and a key refused for
  // its size is refused again from memory, without another GET (tarballs read it, locate.ts).
  const { upstream, length } = answer.response;
  deps.recent.remember(target.key, { kind: "hits", hits: [{ upstream, length }] }, deps.config.negativeTtlSeconds);
  // Refused for its size as a HEAD would have had it refused.
  const tooLarge = refusal(deps.config, target, length, attempts);
  if (tooLarge) {
    void answer.response.body.cancel();
    return { kind: "upstream-failed", ...tooLarge };
  }
  return { kind: "ready", start: (options) => fillFromBody(deps, target, answer.response, options) };
}

/**
 * Why a key an upstream has is not filled now, or null: too large to verify within the Workers
 * CPU limit, or failed too often in a row (attempts.ts).
 */
export function refusal(config: Config, target: FillTarget, length: number | undefined, attempts: Attempts): Unavailable | null {
  const tooLarge = oversize(config, length);
  if (tooLarge) {
    log("warn", "fill_too_large", { key: target.key, length, limit: config.fillMaxBytes });
    return { detail: tooLarge, retryAfterSeconds: config.fillBackoffSeconds };
  }
  const wait = backoffLeftSeconds(attempts, { maxAttempts: config.fillMaxAttempts, backoffSeconds: config.fillBackoffSeconds }, Date.now());
  if (wait > 0) {
    log("warn", "fill_backoff", { key: target.key, attempts: attempts.count, retry_after_seconds: wait });
    return { detail: `${attempts.count} fills of ${target.key} failed in a row; refused for ${wait} s more`, retryAfterSeconds: wait };
  }
  return null;
}

/** What a mirrored file's copy keeps of the upstream's answer, so a hit answers as the upstream did. */
function mirrorMetadata(response: UpstreamBody, published: Published | undefined): Record<string, string> {
  const meta: Record<string, string> = { [COPY_META.upstream]: response.upstream, [COPY_META.fetchedAt]: new Date().toISOString() };
  if (response.headers.etag) meta[COPY_META.etag] = response.headers.etag;
  if (response.headers.lastModified) meta[COPY_META.lastModified] = response.headers.lastModified;
  if (published) meta[COPY_META.sha256] = published.sha256;
  return meta;
}

/** The shared fill's settings for a target under a configuration: its window, attendance and upstream timeouts. */
export function sharedFillOptions(config: Config, target: FillTarget): SharedFillOptions {
  return {
    key: target.key,
    path: target.path,
    windowBytes: config.fillWindowBytes,
    unattendedMaxBytes: config.unattendedFillMaxBytes,
    unattendedGraceMs: config.unattendedFillGraceSeconds * 1000,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    upstreamIdleTimeoutMs: config.upstreamIdleTimeoutMs,
  };
}
