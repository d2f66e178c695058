/**
 * Text that came from outside (client headers kept in Analytics Engine, an API's error answer),
 * made safe to print on an operator's terminal or to open in a spreadsheet.
 */

/**
 * C0 and C1 control characters and DEL (ANSI escape sequences start with ESC, U+001B, or CSI,
 * U+009B), and the Unicode controls that reorder or hide text on screen (bidirectional overrides
 * and isolates, zero-width characters, the byte-order mark).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** Each control character shown as its escape (`\x1b`, `\u202e`), so it is seen and never acted on. */
export function printable(value: string): string {
  return value.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** A spreadsheet reads a cell starting with one of these as a formula (OWASP's list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell: a string that would start a formula is prefixed with `'` (shown as text by
 * spreadsheets), control characters are shown as escapes, and a cell with a comma or quote is
 * quoted. Numbers the rollups computed are written as they are.
 */
export function csvCell(value: string | number | undefined): string {
  if (typeof value === "number") return String(value);
  const raw = value ?? "";
  const s = printable(FORMULA_START.test(raw) ? `'${raw}` : raw);
  return /[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
