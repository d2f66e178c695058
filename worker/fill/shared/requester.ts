/**
 * One requester's share of a running fill: the whole object, or the single range its `Range`
 * header asks for, evaluated against the length the fill really has (the GET's, which may differ
 * from an earlier HEAD's).
 */

import { parseRange } from "../../protocol/range";
import type { Streamed } from "../coordinator-calls";
import type { SharedFill } from "./shared-fill";

/**
 * `joined`: the requester joined a fill another request started. A cold range holds back its end
 * until the whole object is verified, so it keeps the fill going: on objects larger than the
 * caller's UNATTENDED_FILL_MAX_BYTES (`unattendedMaxBytes`, see Attendance), Range is ignored (RFC
 * 9110 allows it) and the whole object is streamed, so a client that asks for one byte and leaves
 * lets the fill go.
 */
export function requesterStream(fill: SharedFill, rangeHeader: string | null, joined: boolean, unattendedMaxBytes: number): Streamed {
  const { headers, upstream, length } = fill;
  if (rangeHeader !== null && length !== undefined && length <= unattendedMaxBytes) {
    const range = parseRange(rangeHeader, length);
    if (range.kind === "unsatisfiable") return { kind: "unsatisfiable", length };
    if (range.kind === "partial") {
      const { start, end } = range;
      return { kind: "streaming", length, headers, upstream, joined, range: { start, end }, body: fill.subscribe(start, end) };
    }
  }
  return { kind: "streaming", length, headers, upstream, joined, body: fill.subscribe(0) };
}
