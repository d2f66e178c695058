/** What prefetching sends through its queue. */

import type { RegistryRef } from "../protocol/paths";

/**
 * `since`: the message belongs to the plan of what `snapshot` adds over that older snapshot (the
 * gate's, when the snapshots published in between cannot tell), not to the snapshot's own plan.
 */
export type PrefetchMessage =
  | { kind: "snapshot"; uuid: string; hash: string; base: string | null; since?: boolean }
  | { kind: "package" | "artifact"; snapshot: RegistryRef; key: string; label: string; since?: string };

/** Labels come from registries and Artifacts.toml files: bounded, so a message stays far below Queues' 128 KB. */
const MAX_LABEL_CHARS = 200;

export function label(text: string): string {
  return text.length <= MAX_LABEL_CHARS ? text : `${text.slice(0, MAX_LABEL_CHARS - 1)}…`;
}
