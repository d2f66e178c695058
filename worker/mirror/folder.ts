/**
 * `/mirror/<name>/bin/`: the folder every Julia binary lives under, answered by pkgedge itself. A
 * juliaup given a nightly server of its own (JULIAUP_NIGHTLY_SERVER) sends `HEAD <server>/bin/`
 * and installs nightly channels only if the answer carries an ETag (juliaup's
 * `check_server_supports_nightlies`): it tracks a nightly build by the ETag of its file, which the
 * mirror passes on from the bucket. A bucket folder is not an object, so the upstream is not asked;
 * the validator names the mirror's base, so it changes only when the mirror is pointed elsewhere.
 */

import type { BinaryMirror } from "../config";

const FOLDER_RE = /^\/mirror\/([a-z0-9][a-z0-9-]{0,62})\/bin\/$/;

/** The answer for a configured mirror's `bin/` folder, or null when `path` is not one. */
export async function mirrorFolder(mirrors: readonly BinaryMirror[], path: string): Promise<Response | null> {
  const name = FOLDER_RE.exec(path)?.[1];
  const mirror = mirrors.find((m) => m.name === name);
  if (!mirror) return null;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${mirror.name} ${mirror.base}`)));
  const etag = `"bin-${[...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("")}"`;
  const body = `The folder of ${mirror.base}/bin/, mirrored by pkgedge. Files are served by their paths under it; the folder is not listed.\n`;
  return new Response(body, {
    headers: { "content-type": "text/plain; charset=utf-8", etag, "cache-control": "public, max-age=3600" },
  });
}
