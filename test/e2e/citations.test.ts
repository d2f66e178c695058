/**
 * Every citation in the code resolves inside the repository: a `protocol.md §N` names a section of
 * docs/protocol.md, and an edge or conformance case id (E1…, C1…) names a row of its §10 or §11.
 * Citations to documents a reader of the repository does not have ("spec §", "issue N") fail.
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const PROTOCOL = readFileSync(join(ROOT, "docs/protocol.md"), "utf8");
/** Headed sections ("6.3.5"), and the numbered rules inside one ("7.2.3": rule 3 of §7.2). */
const SECTIONS = new Set(
  PROTOCOL.split(/^(?=#{2,4} )/m).flatMap((part) => {
    const number = /^#{2,4} (\d+(?:\.\d+)*)\.? /.exec(part)?.[1];
    if (!number) return [];
    return [number, ...[...part.matchAll(/^(\d+)\. /gm)].map((m) => `${number}.${m[1]}`)];
  }),
);
const CASES = new Set([...PROTOCOL.matchAll(/^\| ([CE]\d+) /gm)].map((m) => m[1]));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return /\.(ts|md)$/.test(name) ? [path] : [];
  });
}

const FILES = ["worker", "test", "bench", "infra"].flatMap(sources);

/** The citations in one file's text, as [what, line]. */
function citations(text: string): { sections: [string, number][]; cases: [string, number][]; foreign: [string, number][] } {
  const sections: [string, number][] = [];
  const cases: [string, number][] = [];
  const foreign: [string, number][] = [];
  text.split("\n").forEach((line, i) => {
    for (const m of line.matchAll(/protocol\.md §(\d+(?:\.\d+)*)/g)) sections.push([m[1]!, i + 1]);
    // Case ids in parentheses or after "protocol.md", as the code writes them: "(C45)", "(C42–C44, E20)".
    for (const m of line.matchAll(/\b([CE][1-9]\d?)\b/g))
      if (/[(,–-] ?$|protocol\.md $/.test(line.slice(0, m.index)) || /^[CE]\d+[),–]/.test(line.slice(m.index))) cases.push([m[1]!, i + 1]);
    for (const m of line.matchAll(/\bspec (?:§|[CE]\d)|\bissue \d+|pkg-protocol\.md|ecosystem-facts\.md/g)) foreign.push([m[0], i + 1]);
  });
  return { sections, cases, foreign };
}

describe("citations in the code", () => {
  it("finds the sections and cases of docs/protocol.md", () => {
    expect(SECTIONS.has("6.3.5")).toBe(true);
    expect(SECTIONS.has("7.2.3")).toBe(true);
    expect(SECTIONS.has("7.2.11")).toBe(false);
    expect(CASES.has("C46")).toBe(true);
    expect(CASES.has("E21")).toBe(true);
  });

  it("resolve inside the repository", () => {
    const unresolved: string[] = [];
    const self = "test/e2e/citations.test.ts";
    for (const file of FILES.filter((f) => f !== self)) {
      const found = citations(readFileSync(join(ROOT, file), "utf8"));
      for (const [s, line] of found.sections) if (!SECTIONS.has(s)) unresolved.push(`${file}:${line} protocol.md §${s}`);
      for (const [c, line] of found.cases) if (!CASES.has(c)) unresolved.push(`${file}:${line} ${c}`);
      for (const [f, line] of found.foreign) unresolved.push(`${file}:${line} "${f}" (outside the repository)`);
    }
    expect(unresolved).toEqual([]);
  });

  it("catch a section or case that does not exist, and a citation of an outside document", () => {
    const found = citations("// protocol.md §6.9 and (C99), see spec §2, issue 13\nit('x (C46)')");
    expect(found.sections.map(([s]) => s).filter((s) => !SECTIONS.has(s))).toEqual(["6.9"]);
    expect(found.cases.map(([c]) => c).filter((c) => !CASES.has(c))).toEqual(["C99"]);
    expect(found.foreign.map(([f]) => f)).toEqual(["spec §", "issue 13"]);
  });
});
