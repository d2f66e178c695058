/**
 * `/mirror/<name>/<path>`: the Julia binaries (releases, nightlies, juliaup's databases) from the
 * bucket, filled on a miss through the same single-flight, streaming, checked fill as tarballs,
 * and answered as the mirrored bucket answers (status, Content-Type, ETag, Last-Modified, ranges).
 *
 * Freshness follows the content (freshness.ts): a release file named with its version is kept
 * for good; anything else is served from its copy for its lifetime (BINARY_MIRROR_TTL_SECONDS)
 * after it was fetched or last found current, then the next request asks the upstream first (a
 * conditional GET with the copy's ETag). Only when the upstream cannot be asked is a stale copy served.
 */

import type { RequestDeps } from "../runtime";
import type { BinaryMirror } from "../config";
import type { ObjectBody, ObjectInfo } from "../store/store";
import type { Revalidated, Streamed } from "../fill/coordinator-calls";
import { COPY_META, type FillSpec } from "../fill/target";
import type { UpstreamHeaders } from "../upstream/upstream";
import { headOnce, isAnswerAboutPath, statusInWords } from "../upstream/upstream";
import { answerFromInfo, answerWhole, askedOf, fillRange, type Asked, type Presentation } from "../routes/stored";
import { IMMUTABLE, keepFor, servedContentType } from "../protocol/media";
import { absent, coldHead, fillAnswer, hit, notFound, upstreamFailed } from "../routes/answers";
import type { MirrorFile } from "./path";
import { copyLifetimeSeconds, freshUntil, isFresh, isImmutableFile } from "./freshness";
import type { MirrorMemory } from "./memory";
import { listedNow, publishedFor } from "./published";
import type { Published } from "./versions";
import { log } from "../log";

type MirrorSpec = FillSpec & { kind: "mirror" };

/** How an answer came about, for a caller inside pkgedge (reading versions.json) that needs more than its status. */
export interface Served {
  /** The copy was served stale: the upstream could not be asked, or refused to say (why). */
  stale?: string;
  /** Why the answer is a failure. */
  failure?: string;
}

/** Clients may keep a copy that can change no longer than the mirror itself would. */
function cacheControl(file: MirrorFile, secondsLeft: number): string {
  return isImmutableFile(file.path) ? IMMUTABLE : keepFor(secondsLeft);
}

function answerHeaders(h: UpstreamHeaders, cache: string): Headers {
  const headers = new Headers({ "content-type": servedContentType(h.contentType), "accept-ranges": "bytes", "cache-control": cache });
  if (h.etag) headers.set("etag", h.etag);
  if (h.lastModified) headers.set("last-modified", h.lastModified);
  return headers;
}

/** The upstream's headers as the copy keeps them (falling back to the bucket's own). */
function copyHeaders(copy: ObjectInfo): UpstreamHeaders & { etag: string } {
  const meta = copy.customMetadata;
  return {
    contentType: copy.contentType,
    etag: meta[COPY_META.etag] ?? copy.etag,
    lastModified: meta[COPY_META.lastModified] ?? copy.uploaded.toUTCString(),
  };
}

/** How long (s) a copy of this file is served before the upstream is asked again. */
function lifetimeOf(deps: RequestDeps, file: MirrorFile): number {
  return copyLifetimeSeconds(file.path, deps.config.binaryMirrorTtlSeconds);
}

/** Until when (ms) a copy needs no revalidation: its lifetime from when it was fetched, or from when it was last found current. */
function copyFreshUntil(deps: RequestDeps, memory: MirrorMemory, file: MirrorFile, copy: ObjectInfo): number {
  const fetchedAt = Date.parse(copy.customMetadata[COPY_META.fetchedAt] ?? "") || copy.uploaded.getTime();
  return Math.max(freshUntil(fetchedAt, lifetimeOf(deps, file)), memory.confirmedUntil(copy.key, copy.etag));
}

export async function serveMirrorFile(
  deps: RequestDeps,
  memory: MirrorMemory,
  file: MirrorFile,
  request: Request,
  round = 0,
  served: Served = {},
): Promise<Response> {
  const mirror = deps.config.binaryMirrors.find((m) => m.name === file.mirror);
  if (!mirror) return notFound();
  const asked = askedOf(request);
  const spec: MirrorSpec = { kind: "mirror", mirror: mirror.name, path: file.path };

  const copy = asked.head || asked.rangeHeader !== null ? await deps.store.head(file.key) : await deps.store.get(file.key);
  if (copy) {
    const listed = listedNow(deps, memory, mirror, file.path, serveMirrorFile);
    if (listed && disagrees(copy, listed)) {
      // Filled before versions.json listed it, or re-uploaded since: the copy is not what its publisher says now.
      if ("body" in copy) await (copy as ObjectBody).body.cancel();
      log("warn", "mirror_copy_disagrees", {
        key: file.key,
        listed_sha256: listed.sha256,
        copy_sha256: copy.customMetadata[COPY_META.sha256] ?? null,
      });
      if (round > 1) {
        served.failure = `the copy of ${file.path} is not what versions.json lists, and could not be filled again`;
        return upstreamFailed(deps, file.key, { detail: served.failure, retryAfterSeconds: deps.config.failureTtlSeconds });
      }
      spec.published = listed;
      return answerFill(deps, memory, file, request, await deps.fills.refillFile(spec, fillRange(asked)), round, served);
    }
    const until = copyFreshUntil(deps, memory, file, copy);
    if (isFresh(until, Date.now()) || round > 1) {
      const answer = await answerCopy(deps, copy, presented(file, cacheControl(file, (until - Date.now()) / 1000)), asked);
      if (answer) return answer;
      return serveMirrorFile(deps, memory, file, request, round + 1, served); // the copy vanished under us
    }
    if ("body" in copy) await (copy as ObjectBody).body.cancel();
    const held = {
      bucketEtag: copy.etag,
      validators: { etag: copy.customMetadata[COPY_META.etag], lastModified: copy.customMetadata[COPY_META.lastModified] },
      lifetimeSeconds: lifetimeOf(deps, file),
    };
    const result = await deps.fills.revalidateFile(spec, held, fillRange(asked));
    if (result.kind === "fresh") {
      memory.confirm(file.key, copy.etag, result.until);
      return serveMirrorFile(deps, memory, file, request, round + 1, served);
    }
    if (result.kind === "stale") {
      // The upstream could not be asked: the copy is all there is, served as stale.
      log("warn", "mirror_stale", { key: file.key, detail: result.detail });
      deps.noteFailure(file.key, result.detail);
      served.stale = result.detail;
      const info = (await deps.store.head(file.key)) ?? copy;
      const answer = await answerFromInfo(deps.store, info, presented(file, "no-cache, no-transform"), asked);
      if (answer) return hit(deps, answer);
      served.failure = result.detail;
      return upstreamFailed(deps, file.key, { detail: result.detail, retryAfterSeconds: deps.config.failureTtlSeconds });
    }
    return answerFill(deps, memory, file, request, result, round, served);
  }

  if (asked.head) return headCold(deps, mirror, file);
  const published = await publishedFor(deps, memory, mirror, file.path, serveMirrorFile);
  if (published.kind === "unavailable") {
    served.failure = published.detail;
    return upstreamFailed(deps, file.key, { detail: published.detail, retryAfterSeconds: deps.config.failureTtlSeconds });
  }
  if (published.value) spec.published = published.value;
  return answerFill(deps, memory, file, request, await deps.fills.streamFile(spec, fillRange(asked)), round, served);
}

/** Copies are answered with the upstream's validators; a release named with its version never changes. */
function presented(file: MirrorFile, cache: string): Presentation {
  return { headers: (copy) => answerHeaders(copyHeaders(copy), cache), immutable: isImmutableFile(file.path) };
}

/** Whether a copy is not the file versions.json lists (a copy kept without a listed sha256 included). */
function disagrees(copy: ObjectInfo, listed: Published): boolean {
  return copy.customMetadata[COPY_META.sha256] !== listed.sha256 || copy.size !== listed.size;
}

/** A copy's answer (null when it vanished between its metadata and its bytes). */
async function answerCopy(deps: RequestDeps, copy: ObjectInfo | ObjectBody, shown: Presentation, asked: Asked): Promise<Response | null> {
  const answer =
    "body" in copy
      ? await answerWhole(copy as ObjectBody, shown.headers(copy), copyHeaders(copy).etag, asked.ifNoneMatch)
      : await answerFromInfo(deps.store, copy, shown, asked);
  return answer && hit(deps, answer);
}

/** A response from the file's fill: its bytes as they pass the checks (a range of them, when asked). */
async function answerFill(
  deps: RequestDeps,
  memory: MirrorMemory,
  file: MirrorFile,
  request: Request,
  fill: Revalidated | Streamed,
  round: number,
  served: Served,
): Promise<Response> {
  if (fill.kind === "not-found") return absent(deps, fill.status);
  if (fill.kind === "upstream-failed") {
    served.failure = fill.detail;
    return upstreamFailed(deps, file.key, fill);
  }
  if (fill.kind === "in-bucket" || fill.kind === "fresh" || fill.kind === "stale")
    return serveMirrorFile(deps, memory, file, request, round + 1, served);
  const headers = answerHeaders(fill.kind === "streaming" ? fill.headers : {}, cacheControl(file, lifetimeOf(deps, file)));
  // A HEAD that found its copy outdated started the new copy's fill; it needs none of its bytes.
  return fillAnswer(deps, fill, headers, request.method === "HEAD");
}

/** A HEAD for a file the bucket lacks is passed to the upstream and answered as it answered; nothing is filled. */
async function headCold(deps: RequestDeps, mirror: BinaryMirror, file: MirrorFile): Promise<Response> {
  const answer = await headOnce(mirror.base, "/" + file.path, deps.config.upstreamTimeoutMs);
  if (answer.status === 200 && "headers" in answer) {
    const headers = answerHeaders(answer.headers, cacheControl(file, lifetimeOf(deps, file)));
    return coldHead(deps, headers, answer.length, mirror.base);
  }
  if (isAnswerAboutPath(answer.status, mirror.base)) return absent(deps, answer.status);
  const detail = "error" in answer ? answer.error : `${mirror.base}: HEAD answered ${statusInWords(answer.status)}`;
  return upstreamFailed(deps, file.key, { detail, retryAfterSeconds: deps.config.failureTtlSeconds });
}
