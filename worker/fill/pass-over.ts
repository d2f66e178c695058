/**
 * Which upstreams a failed fill passes over for its key (locate.ts skips them for QUARANTINE_SECONDS).
 * Only an upstream shown to be at fault is passed over, and a break only when the key has another
 * source: a transient break of every upstream, or an object replaced under its name, must not
 * leave the key without a source for ten minutes.
 */

import type { Blame } from "./gate";

export interface FailedFill {
  blame: Blame;
  /** Every upstream that supplied bytes of the fill, the first included. */
  suppliers: readonly string[];
  /** The upstream whose transfer broke last (the one a continued fill was reading). */
  brokeLast: string;
  /** Whether another upstream that has the key (and is not passed over) is left. */
  othersHaveIt: boolean;
}

export interface PassOver {
  quarantine: string[];
  /** The next fills come whole from one upstream (recent.ts `fillWhole`). */
  wholeOnly: boolean;
}

export function passOver(failed: FailedFill): PassOver {
  const { blame, suppliers, brokeLast, othersHaveIt } = failed;
  if (blame === "upstream") {
    // Bytes of one upstream failed the check: it served them. Bytes of several: the check cannot
    // say whose were wrong, so the next fill takes one upstream's whole body, which can.
    return suppliers.length === 1 ? { quarantine: [...suppliers], wholeOnly: false } : { quarantine: [], wholeOnly: true };
  }
  if (blame === "broke") return { quarantine: othersHaveIt ? [brokeLast] : [], wholeOnly: false };
  return { quarantine: [], wholeOnly: false };
}
