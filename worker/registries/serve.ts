/**
 * Serving `/registries.<flavor>` from the bucket. On a fresh deployment the first request waits
 * for the list to be fetched (and its registry tarball stored); afterwards a request that finds
 * this isolate's last check older than REGISTRY_TTL_SECONDS starts a refresh in the background and
 * is served the stored list at once.
 */

import type { Flavor } from "../protocol/flavors";
import { REGISTRY_LIST_CACHE_CONTROL, REGISTRY_LIST_CONTENT_TYPE } from "../protocol/media";
import type { RequestDeps } from "../runtime";
import type { ObjectInfo } from "../store/store";
import type { RegistryRefresher } from "./refresher";
import { listKey } from "./state";
import { ifNoneMatchHits } from "../routes/conditional";
import { upstreamFailed } from "../routes/answers";

async function readList(
  deps: RequestDeps,
  flavor: Flavor,
  head: boolean,
): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> | null } | null> {
  if (head) {
    const info = await deps.store.head(listKey(flavor));
    return info ? { info, body: null } : null;
  }
  const obj = await deps.store.get(listKey(flavor));
  return obj ? { info: obj, body: obj.body } : null;
}

export async function serveRegistryList(
  deps: RequestDeps,
  refresher: RegistryRefresher,
  flavor: Flavor,
  request: Request,
): Promise<Response> {
  const head = request.method === "HEAD";
  let list = await readList(deps, flavor, head);
  if (!list) {
    // A fresh deployment: this request waits for the first list to be fetched and published.
    const result = await refresher.refresh(deps, flavor);
    list = result.ok ? await readList(deps, flavor, head) : null;
    if (!list) {
      // Like a tarball no upstream could serve just now: 502 with a short Retry-After, noted for /meta.
      const detail = result.ok ? "the published list could not be read back" : result.error;
      return upstreamFailed(deps, listKey(flavor), { detail, retryAfterSeconds: deps.config.failureTtlSeconds });
    }
  } else {
    // Serve the stored list now; revalidate in the background if no one has checked within the TTL.
    deps.waitUntil(
      refresher.isDue(deps, flavor).then((due) => {
        if (due) return refresher.refresh(deps, flavor);
      }),
    );
  }
  const { info, body } = list;

  const headers = new Headers({
    "content-type": REGISTRY_LIST_CONTENT_TYPE,
    "content-length": String(info.size),
    "accept-ranges": "bytes",
    etag: info.etag,
    "last-modified": info.uploaded.toUTCString(),
    "cache-control": REGISTRY_LIST_CACHE_CONTROL,
  });
  const ifNoneMatch = request.headers.get("if-none-match");
  if (ifNoneMatchHits(ifNoneMatch, info.etag)) {
    await body?.cancel();
    headers.delete("content-length");
    return new Response(null, { status: 304, headers });
  }
  return new Response(body, { headers });
}
