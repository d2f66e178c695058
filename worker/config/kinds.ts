/** How each kind of variable in the table is read: defaults and bounds come from the table. */

import { ConfigError } from "./error";
import { VARIABLES, type ChoiceName, type FlagName, type IntegerName, type TextName, type VariableName } from "./table";

export type Vars = Partial<Record<string, unknown>>;

/** The trimmed value, or undefined when absent or blank. */
export function text(vars: Vars, name: VariableName): string | undefined {
  const value = vars[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ConfigError(name, `expected a string, got ${typeof value}`);
  return value.trim() === "" ? undefined : value.trim();
}

/** A `text` variable, or its default from the table. */
export function textOr(vars: Vars, name: TextName): string | undefined {
  const spec = VARIABLES[name] as { default?: string };
  return text(vars, name) ?? spec.default;
}

/** Whole numbers only: fractions would reach buffer arithmetic. `fallback` is for defaults a rule computes. */
export function integer(vars: Vars, name: IntegerName, fallback?: number): number {
  const spec = VARIABLES[name] as { default?: number; min: number; max: number };
  const raw = text(vars, name);
  if (raw === undefined) {
    const value = spec.default ?? fallback;
    if (value === undefined) throw new Error(`${name} has no default in the table and none was computed`);
    return value;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < spec.min || value > spec.max) {
    throw new ConfigError(name, `expected a whole number from ${spec.min} to ${spec.max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function flag(vars: Vars, name: FlagName): boolean {
  const raw = (text(vars, name) ?? String(VARIABLES[name].default)).toLowerCase();
  if (raw !== "true" && raw !== "false") throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
  return raw === "true";
}

type ChoicesOf<N extends ChoiceName> = (typeof VARIABLES)[N]["choices"][number];

/** One of the row's choices, any case (the value given, or the default when absent). */
export function choice<N extends ChoiceName>(vars: Vars, name: N, raw = text(vars, name)): ChoicesOf<N> {
  const spec: { default: string; choices: readonly string[] } = VARIABLES[name];
  const value = (raw ?? spec.default).toLowerCase();
  if (!spec.choices.includes(value)) {
    const options = `${spec.choices.slice(0, -1).join(", ")} or ${spec.choices.at(-1)}`;
    throw new ConfigError(name, `expected ${options}, got ${JSON.stringify(value)}`);
  }
  return value as ChoicesOf<N>;
}

/** Comma-separated items, blanks dropped. */
export function items(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** An http(s) base URL without query or fragment, returned without its trailing slashes. */
export function baseUrl(name: VariableName, item: string, what: string): string {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} is not an http(s) URL`);
  if (url.search !== "" || url.hash !== "")
    throw new ConfigError(name, `${what} ${JSON.stringify(item)} must not have a query or fragment`);
  return url.origin + url.pathname.replace(/\/+$/, "");
}
