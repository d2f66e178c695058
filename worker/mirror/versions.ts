/**
 * What the publisher says the release files are: `bin/versions.json` lists every release file
 * with its `url`, `sha256` and `size` (jill and setup-julia read it). pkgedge reads the copy it
 * holds of the mirror's own `versions.json` into an index by path, so a fill of a listed file can
 * check both before it is committed.
 */

/** The digest and length a listed file must have. */
export interface Published {
  sha256: string;
  size: number;
}

export const VERSIONS_PATH = "bin/versions.json";

/**
 * versions.json is a few MB; a document far larger is not one, and is not read. Its text and the
 * parsed tree are held at once while it is indexed, in an isolate of 128 MB that is serving other
 * requests too: reading and indexing a versions.json-shaped document of 8 MiB raised a Node
 * process's peak RSS by about 58 MiB (heap capped at 128 MB; 16 MiB read the old way, 143 MiB), so
 * the cap leaves the real file room to grow and the isolate room to serve.
 */
export const MAX_VERSIONS_BYTES = 8 * 1024 * 1024;

/** A versions.json that is not read, and why. */
class VersionsRefused extends Error {}

/**
 * Reads a versions.json body (at most `max` bytes, decoded as it arrives so its bytes are not
 * held beside its text) and indexes it. A body over `max` is cancelled and refused.
 */
export async function readVersions(body: ReadableStream<Uint8Array>, max: number): Promise<Map<string, Published>> {
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) throw new VersionsRefused(`it is larger than ${max} bytes`); // leaving the loop cancels the body
    parts.push(decoder.decode(chunk, { stream: true }));
  }
  parts.push(decoder.decode());
  return indexVersions(parts.join(""));
}

/**
 * Maps each listed file's path (the path of its `url`, without the leading slash) to what it must
 * be. Entries without a well-formed sha256 and size are left out (their files get the length check
 * only); a document that is not a versions.json at all is an error.
 */
export function indexVersions(text: string): Map<string, Published> {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("versions.json is not a JSON object");
  const index = new Map<string, Published>();
  for (const release of Object.values(doc as Record<string, unknown>)) {
    const files = (release as { files?: unknown } | null)?.files;
    if (!Array.isArray(files)) continue;
    for (const file of files as Record<string, unknown>[]) {
      const { url, sha256, size } = file ?? {};
      if (typeof url !== "string" || typeof sha256 !== "string" || !/^[0-9a-f]{64}$/i.test(sha256)) continue;
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) continue;
      let path: string;
      try {
        path = new URL(url).pathname.replace(/^\/+/, "");
      } catch {
        continue;
      }
      index.set(path, { sha256: sha256.toLowerCase(), size });
    }
  }
  return index;
}
