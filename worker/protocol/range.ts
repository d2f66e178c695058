/**
 * RFC 9110 byte ranges, single range only (protocol.md §4.2 REC).
 *
 * Pkg never sends Range, but downstream caches and Pkg servers may. A header we cannot parse,
 * or one asking for several ranges, is ignored and the whole object is served, as RFC 9110 allows.
 */

export type RangeRequest =
  | { kind: "whole" }
  | { kind: "partial"; start: number; end: number } // inclusive end
  | { kind: "unsatisfiable" };

const RE_SINGLE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (header == null) return { kind: "whole" };
  const m = RE_SINGLE.exec(header.trim());
  if (!m) return { kind: "whole" }; // multi-range or garbage
  const [, first, last] = m;
  if (first === "" && last === "") return { kind: "whole" };

  if (first === "") {
    // Suffix range: the last n bytes. A suffix longer than the object means the whole object.
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 };
  }

  const start = Number(first);
  const end = last === "" ? size - 1 : Number(last);
  // `bytes=2-1` is an invalid range-spec; the conformance suite (C18) expects 416 rather than 200.
  if (last !== "" && end < start) return { kind: "unsatisfiable" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, size - 1) };
}
