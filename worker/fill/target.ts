/**
 * What a fill fetches, where it keeps it, and how its bytes are checked. Two kinds of object go
 * through the same single-flight, streaming, verified fill: the Pkg protocol's content-addressed
 * tarballs (checked against their git tree hash) and the binary mirror's files (checked against
 * the sha256 and size their publisher lists, when it lists them; otherwise by length only).
 *
 * A FillSpec is the plain value that crosses to a resource's coordinator over RPC; the target is
 * rebuilt from it there with the coordinator's copy of the configuration.
 */

import type { Config } from "../config";
import { parseResourcePath, type Resource } from "../protocol/paths";
import { TARBALL_CONTENT_TYPE, UNTYPED_CONTENT_TYPE } from "../protocol/media";
import { mirrorKey } from "../mirror/path";
import { MAX_VERSIONS_BYTES, VERSIONS_PATH, type Published } from "../mirror/versions";
import type { UpstreamBody } from "../upstream/upstream";
import type { BodyCheck } from "./gate";
import type { PutOptions } from "../store/store";
import { publishedDigestCheck, treeHashCheck, versionsDocumentCheck } from "./verified";

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
}

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
    return {
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
    };
  }
  const mirror = config.binaryMirrors.find((m) => m.name === spec.mirror);
  if (!mirror) throw new TypeError(`no binary mirror is named ${JSON.stringify(spec.mirror)}`);
  const published = spec.published;
  const isVersions = spec.path === VERSIONS_PATH;
  return {
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
  };
}

/** What a mirrored file's copy keeps of the upstream's answer, so a hit answers as the upstream did. */
function mirrorMetadata(response: UpstreamBody, published: Published | undefined): Record<string, string> {
  const meta: Record<string, string> = { [COPY_META.upstream]: response.upstream, [COPY_META.fetchedAt]: new Date().toISOString() };
  if (response.headers.etag) meta[COPY_META.etag] = response.headers.etag;
  if (response.headers.lastModified) meta[COPY_META.lastModified] = response.headers.lastModified;
  if (published) meta[COPY_META.sha256] = published.sha256;
  return meta;
}
