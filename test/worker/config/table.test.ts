import { describe, expect, it } from "vitest";
import devVarsExample from "../../../.dev.vars.example?raw";
import configurationDoc from "../../../docs/configuration.md?raw";
import wranglerToml from "../../../wrangler.toml?raw";
import { BINDINGS, VARIABLES, type VariableName, type VariableSpec } from "../../../worker/config/table";
import { DEFAULT_MAX_ENTRIES } from "../../../worker/verify/tree";
import { DEFAULT_MAX_RATIO } from "../../../worker/verify/verify";

const rows = Object.entries(VARIABLES) as [VariableName, VariableSpec][];
const names = rows.map(([name]) => name);
const secrets = rows.filter(([, spec]) => spec.kind === "secret").map(([name]) => name);
const variables = rows.filter(([, spec]) => spec.kind !== "secret").map(([name]) => name);

/** The text of each `code span` in a Markdown table cell. */
const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);

/** docs/configuration.md's table: each documented name with its default cell and the name's place in its row. */
function documented(markdown: string): Map<string, { cell: string; index: number }> {
  const found = new Map<string, { cell: string; index: number }>();
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const [, nameCell, defaultCell] = line.split("|").map((c) => c.trim());
    codeSpans(nameCell!).forEach((name, index) => {
      expect(found.has(name), `${name} is documented twice`).toBe(false);
      found.set(name, { cell: defaultCell!, index });
    });
  }
  return found;
}

/** wrangler.toml's top-level [vars] block: the names it sets or shows commented out, and its whole text. */
function wranglerVars(toml: string): { names: string[]; text: string } {
  const block = /^\[vars\]\n([\s\S]*?)^\[/m.exec(toml)?.[1] ?? "";
  const names = [...block.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)\s*=/gm)].map((m) => m[1]!);
  return { names, text: block };
}

// worker/env.d.ts derives the Env's variables from the table: this fails to typecheck if one is missing.
type NotInEnv = Exclude<VariableName, keyof Env>;
const everyVariableInEnv: [NotInEnv] extends [never] ? true : NotInEnv = true;

const sorted = (list: Iterable<string>) => [...list].sort();

describe("the configuration table", () => {
  it("lists every variable and binding docs/configuration.md documents, and no other", () => {
    expect(sorted(documented(configurationDoc).keys())).toEqual(sorted([...names, ...BINDINGS]));
  });

  it("has the defaults docs/configuration.md states", () => {
    const doc = documented(configurationDoc);
    for (const [name, spec] of rows) {
      const entry = doc.get(name);
      expect(entry, `${name} is not in docs/configuration.md`).toBeDefined();
      if (!entry) continue;
      const { cell, index } = entry;
      if (spec.kind === "secret") expect(cell, name).toMatch(/secret/);
      else if (spec.default === undefined)
        expect(cell.startsWith("`"), `${name} has no default in the table, but the docs give ${cell}`).toBe(false);
      else expect(codeSpans(cell)[index], name).toBe(String(spec.default));
    }
  });

  it("lists what wrangler.toml's [vars] sets or shows, and each secret is named there", () => {
    const { names: shown, text } = wranglerVars(wranglerToml);
    expect(shown.length).toBeGreaterThan(0);
    expect(sorted(new Set(shown))).toEqual(sorted(variables));
    for (const secret of secrets) expect(text, secret).toMatch(new RegExp(`\\b${secret}\\b`));
  });

  it("lists every variable .dev.vars.example shows", () => {
    const shown = [...devVarsExample.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(shown.length).toBeGreaterThan(0);
    for (const name of shown) expect(names, `${name} in .dev.vars.example`).toContain(name);
  });

  it("keeps the verifier's own limits as its defaults, each default inside its bounds", () => {
    expect(VARIABLES.VERIFY_MAX_ENTRIES.default).toBe(DEFAULT_MAX_ENTRIES);
    expect(VARIABLES.VERIFY_MAX_RATIO.default).toBe(DEFAULT_MAX_RATIO);
    for (const [name, spec] of rows) {
      if (spec.kind === "integer" && spec.default !== undefined) {
        expect(spec.default, name).toBeGreaterThanOrEqual(spec.min);
        expect(spec.default, name).toBeLessThanOrEqual(spec.max);
      }
      if (spec.kind === "choice") expect(spec.choices, name).toContain(spec.default);
    }
  });

  it("types every variable of the table in the Env", () => {
    expect(everyVariableInEnv).toBe(true);
  });

  it("gives each secret its own field of Runtime.secrets", () => {
    const fields = rows.flatMap(([, spec]) => (spec.kind === "secret" ? [spec.field] : []));
    expect(new Set(fields).size).toBe(fields.length);
  });
});
