/**
 * Hits answered by the bucket's public domain (STORED_REDIRECT_BASE): a GET of a tarball the
 * bucket holds is redirected to `<base>/<key>`, so its bytes go from Cloudflare's cache in front of
 * the bucket instead of through the worker (docs/operations.md, "Hits served by the bucket's
 * domain"). Only a key found in the bucket is ever named: the bucket's domain answers 404 for
 * anything else, and a 404 on a package sends Pkg to GitHub.
 */

import type { Resource } from "../protocol/paths";
import type { RequestDeps } from "../runtime";
import { NO_STORE } from "../protocol/media";
import { zstdKey } from "../variants/zstd-variant";
import { redirected } from "./answers";

/**
 * The redirect for a stored copy of the resource, or null when the bucket holds none (the request
 * is then answered as a miss, as without the setting). A client that accepts zstd is sent to the
 * zstd variant when it is stored, else to the gzip tarball, which it accepts too. A HEAD is not
 * redirected (answered from metadata here, it costs no bytes, and keeps Content-Length and the
 * cold-HEAD coordination of protocol.md §6.3.7); a Range is (the bucket's domain serves ranges),
 * but not one with If-Range (tarball.ts judges it here).
 */
export async function redirectIfStored(deps: RequestDeps, base: string, resource: Resource, zstd: boolean): Promise<Response | null> {
  const gzip = { key: resource.key, encoding: "gzip" } as const;
  const candidates = zstd ? [{ key: zstdKey(resource.key), encoding: "zstd" } as const, gzip] : [gzip];
  for (const { key, encoding } of candidates) {
    // Metadata only (one Class B operation, as a GET is): the object exists, whole and verified.
    if (!(await deps.store.head(key))) continue;
    // 302, not 301 or 308: the bytes never change, but a permanent redirect is kept by clients and
    // caches, and would outlive the setting being turned off, the domain moving, or the object being
    // purged. Not stored either, like the /registries redirect: it says what the bucket holds now.
    const answer = new Response(null, { status: 302, headers: { location: `${base}/${key}`, "cache-control": NO_STORE } });
    return redirected(deps, answer, encoding);
  }
  return null;
}
