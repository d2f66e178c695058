/**
 * What the publisher lists for a mirror's files: pkgedge's copy of the mirror's own
 * `bin/versions.json`, read through the mirror itself (so it is kept fresh by the same rule as any
 * other copy) and indexed once per isolate and change.
 *
 * Once a mirror has had a versions.json (this isolate indexed one, or the bucket holds a copy), it
 * is never taken to have none again: an upstream that refuses it, answers an error page or serves
 * one that does not index makes it *unavailable*. The last good index (or the copy, served stale)
 * then still checks the files it lists, and the `bin/` files it does not list are not filled until
 * versions.json can be read again, so no release file is ever kept unchecked because its
 * publisher's list was out of reach. Only a mirror that never had one and whose upstream answers
 * 404 or 410 for it has its files kept after the length check alone; any other answer (403
 * included) leaves it unavailable, asked about again on the next fill.
 */

import type { RequestDeps } from "../runtime";
import type { BinaryMirror } from "../config";
import { RequestNote } from "../ops/access-log";
import { log } from "../log";
import { isAbsent } from "../upstream/upstream";
import { mirrorKey } from "./path";
import { copyLifetimeSeconds, freshUntil, isFresh } from "./freshness";
import { MAX_VERSIONS_BYTES, readVersions, VERSIONS_PATH, type Published } from "./versions";
import type { MirrorMemory, VersionsIndex } from "./memory";
import type { MirrorFile } from "./path";
import type { Served } from "./serve";

/**
 * How versions.json is read: through the mirror itself (serve.ts passes its serveMirrorFile), so it
 * is a hit, a revalidation or a checked fill like any other file.
 */
export type ServeFile = (
  deps: RequestDeps,
  memory: MirrorMemory,
  file: MirrorFile,
  request: Request,
  round: number,
  served: Served,
) => Promise<Response>;

export type PublishedLookup = { kind: "known"; value?: Published } | { kind: "unavailable"; detail: string };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What the mirror's versions.json says a file under `bin/` must be, for a fill of that file. A
 * file it lists is checked against it; a file it does not list is filled after the length check
 * only while versions.json is current, and not at all while it is unavailable.
 */
export async function publishedFor(
  deps: RequestDeps,
  memory: MirrorMemory,
  mirror: BinaryMirror,
  path: string,
  serve: ServeFile,
): Promise<PublishedLookup> {
  if (path === VERSIONS_PATH || !path.startsWith("bin/")) return { kind: "known" };
  let versions: VersionsIndex;
  try {
    versions = await versionsIndex(deps, memory, mirror, serve);
  } catch (err) {
    return { kind: "unavailable", detail: unavailable(mirror, message(err)) };
  }
  const value = versions.index.get(path);
  if (value || versions.unavailable === undefined) return { kind: "known", value };
  return { kind: "unavailable", detail: `${unavailable(mirror, versions.unavailable)}; it does not list ${path}` };
}

/**
 * What the index this isolate holds lists for a file, for a hit: no bucket or upstream round trip is
 * added to it. An index older than its TTL (or none yet) is refreshed in the background, so the
 * requests after that one compare against the current list.
 */
export function listedNow(
  deps: RequestDeps,
  memory: MirrorMemory,
  mirror: BinaryMirror,
  path: string,
  serve: ServeFile,
): Published | undefined {
  if (path === VERSIONS_PATH || !path.startsWith("bin/")) return undefined;
  const held = memory.versions.get(mirror.name);
  if (!held || Date.now() >= recheckAt(deps, held)) deps.waitUntil(versionsIndex(deps, memory, mirror, serve).catch(() => {}));
  return held?.index.get(path);
}

function unavailable(mirror: BinaryMirror, why: string): string {
  return `the ${mirror.name} mirror's ${VERSIONS_PATH}, which lists what its files must be, cannot be read just now: ${why}`;
}

/**
 * The mirror's index as this isolate holds it, refreshed first when it is older than the TTL (an
 * unavailable one is asked about again after UPSTREAM_FAILURE_TTL_SECONDS).
 */
function versionsIndex(deps: RequestDeps, memory: MirrorMemory, mirror: BinaryMirror, serve: ServeFile): Promise<VersionsIndex> {
  const cached = memory.versions.get(mirror.name);
  if (cached && isFresh(recheckAt(deps, cached), Date.now())) return Promise.resolve(cached);
  let loading = memory.loading.get(mirror.name);
  if (!loading) {
    // Its own note: reading versions.json is not the answer of the request that needed it.
    const own = { ...deps, note: new RequestNote() };
    loading = loadVersions(own, memory, mirror, cached, serve).finally(() => memory.loading.delete(mirror.name));
    memory.loading.set(mirror.name, loading);
  }
  return loading;
}

/** The index is read again when its copy's lifetime runs out (sooner while it is unavailable). */
function recheckAt(deps: RequestDeps, index: VersionsIndex): number {
  const { binaryMirrorTtlSeconds, failureTtlSeconds } = deps.config;
  const lifetime = copyLifetimeSeconds(VERSIONS_PATH, binaryMirrorTtlSeconds);
  return freshUntil(index.checkedAt, index.unavailable === undefined ? lifetime : Math.min(lifetime, failureTtlSeconds));
}

/** Reads versions.json through the mirror itself (a hit, a revalidation or a fill), and indexes it when it changed. */
async function loadVersions(
  deps: RequestDeps,
  memory: MirrorMemory,
  mirror: BinaryMirror,
  cached: VersionsIndex | undefined,
  serve: ServeFile,
): Promise<VersionsIndex> {
  const file = { mirror: mirror.name, path: VERSIONS_PATH, key: mirrorKey(mirror.name, VERSIONS_PATH) };
  const served: Served = {};
  const checkedAt = Date.now();
  const had = cached !== undefined && cached.etag !== "";
  let res: Response | undefined;
  try {
    res = await serve(deps, memory, file, new Request(`https://pkgedge.internal/mirror/${mirror.name}/${VERSIONS_PATH}`), 0, served);
    if (isAbsent(res.status) && !had) {
      // No copy in the bucket, none indexed here, and the upstream says it has none: a mirror without
      // one. Only 404 and 410 say that: a 403 or 401 is also what a WAF or an expired grant answers,
      // and taking it for "none" would keep release files after the length check alone.
      await res.body?.cancel();
      const none: VersionsIndex = { etag: "", index: new Map(), checkedAt };
      memory.versions.set(mirror.name, none);
      return none;
    }
    if (res.status !== 200 || !res.body) throw new Error(served.failure ?? `it answered ${res.status}`);
    const etag = res.headers.get("etag") ?? "";
    let index: Map<string, Published>;
    if (cached && etag !== "" && cached.etag === etag) {
      await res.body.cancel();
      index = cached.index;
    } else {
      index = await readVersions(res.body, MAX_VERSIONS_BYTES);
      log("info", "mirror_versions_indexed", { mirror: mirror.name, files: index.size, etag, stale: served.stale !== undefined });
    }
    const loaded: VersionsIndex = { etag, index, checkedAt, unavailable: served.stale };
    if (served.stale !== undefined) log("warn", "mirror_versions_unavailable", { mirror: mirror.name, detail: served.stale });
    memory.versions.set(mirror.name, loaded);
    return loaded;
  } catch (err) {
    await res?.body?.cancel().catch(() => {});
    if (!had) throw err;
    // The last index this isolate read still checks what it lists; nothing it does not list is filled.
    const kept: VersionsIndex = { ...cached, checkedAt, unavailable: message(err) };
    log("warn", "mirror_versions_unavailable", { mirror: mirror.name, detail: kept.unavailable });
    memory.versions.set(mirror.name, kept);
    return kept;
  }
}
