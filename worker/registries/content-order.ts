/**
 * Ordering two registry snapshots by what they list, when the registry's history cannot (docs/
 * registries.md). A registry only grows: a new snapshot adds versions, and a yanked version stays
 * listed (marked), so what a snapshot lists is the set of (package UUID, version tree hash), yanked
 * ones included. A candidate that adds to the published set and removes nothing is newer; one that
 * only removes is older; the same set is the same; anything else (both, or a tarball that cannot be
 * read as a registry) proves nothing.
 *
 * The two tarballs are read one after the other with the prefetch diff's streaming reader, so only
 * the published snapshot's set is held (for General, about a hundred thousand short strings).
 */

import { readSnapshot, type ListedVersion } from "../prefetch/snapshot";

export type ContentOrder = "newer" | "older" | "same" | "unproven";

const keyOf = (v: ListedVersion) => `${v.uuid}/${v.treeHash}`;

/** How `candidate` relates to `published` by what they list: the set of (package UUID, version tree hash), yanked versions included. */
export async function compareSnapshotsByContent(
  published: ReadableStream<Uint8Array>,
  candidate: ReadableStream<Uint8Array>,
): Promise<ContentOrder> {
  // Each published version, and whether the candidate lists it too.
  const listed = new Map<string, boolean>();
  let added = 0;
  try {
    await readSnapshot(published, (v) => void listed.set(keyOf(v), false), { yanked: true });
    await readSnapshot(
      candidate,
      (v) => {
        const key = keyOf(v);
        if (listed.has(key)) listed.set(key, true);
        else added++;
      },
      { yanked: true },
    );
  } catch {
    await Promise.all([published.cancel().catch(() => {}), candidate.cancel().catch(() => {})]);
    return "unproven";
  }
  let removed = 0;
  for (const kept of listed.values()) if (!kept) removed++;
  return contentOrder(added, removed, listed.size);
}

/** The order that `added` and `removed` versions (against a published set of `publishedSize`) prove. */
function contentOrder(added: number, removed: number, publishedSize: number): ContentOrder {
  // An empty set is not a registry snapshot: nothing is proven by or against it.
  if (publishedSize === 0 && added === 0) return "unproven";
  if (added > 0 && removed === 0) return "newer";
  if (added === 0 && removed > 0) return "older";
  if (added === 0 && removed === 0) return "same";
  return "unproven";
}
