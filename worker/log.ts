/**
 * Logs are one JSON object per event, so operators can filter them in `wrangler tail`, Workers Logs
 * or Logpush; or, with LOG_FORMAT=text (the local configuration's setting, for `wrangler dev`),
 * one compact line a person reads in a terminal. The format is the isolate's: set once its
 * configuration is read.
 */

type Level = "info" | "warn" | "error";

let format: "json" | "text" = "json";

export function useLogFormat(chosen: "json" | "text"): void {
  format = chosen;
}

export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  // Text goes to console.log whatever its level (the line says it): wrangler dev would wrap a
  // warning or an error in a block of its own, several lines for one event.
  if (format === "text") return console.log(textLine(level, event, fields));
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/**
 * `GET /package/… 200 MISS 394 B 12 ms` for a request (then what is unusual about it: broken, the
 * upstream, the Julia version); `warn fill_rejected key=… reason="…"` for anything else.
 */
export function textLine(level: Level, event: string, fields: Record<string, unknown>): string {
  if (event === "request") {
    const f = fields;
    const parts = [
      f.method,
      f.path,
      f.status,
      typeof f.cache === "string" ? f.cache.toUpperCase() : "-",
      byteSize(f.bytes),
      `${f.duration_ms} ms`,
    ];
    if (f.broken) parts.push("BROKEN");
    if (typeof f.upstream === "string") parts.push(`from ${f.upstream}`);
    if (typeof f.julia_version === "string") parts.push(`julia ${f.julia_version}`);
    return parts.join(" ");
  }
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${shown(v)}`);
  return [level === "info" ? "" : level, event, ...rest].filter(Boolean).join(" ");
}

/** A byte count as people read it: `394 B`, `1.5 MiB` ("-" when there is none). */
export function byteSize(bytes: unknown): string {
  if (typeof bytes !== "number") return "-";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function shown(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
