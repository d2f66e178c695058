/**
 * A failure in words, for the operator commands: what went wrong where ("connection refused by
 * 127.0.0.1:8787", "DNS lookup failed for x.invalid", "HTTP 403 from …", "bucket pkgedge does not
 * exist"), never a stack trace for a failure the world caused. `installFailureHandler` makes every
 * command (they all parse their command line with infra/cli.ts) end that way: one `✗` line, exit 1.
 */

/** A failure the command expected and has already put in words. */
export class ToolFailure extends Error {}

interface Coded {
  code?: string;
  hostname?: string;
  address?: string;
  port?: number;
  host?: string;
}

/** The error and its causes, outermost first. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

/** What a network error says, in words; null when it is not one. */
function network(err: unknown): string | null {
  for (const e of chain(err)) {
    const c = e as Coded & { message?: string; name?: string };
    const where = c.hostname ?? (c.address ? `${c.address}${c.port ? `:${c.port}` : ""}` : c.host);
    switch (c.code) {
      case "ECONNREFUSED":
        return `connection refused by ${where ?? "the server"} (is it running?)`;
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return `DNS lookup failed for ${where ?? "the host"}`;
      case "ECONNRESET":
        return `connection reset by ${where ?? "the server"}`;
      case "ETIMEDOUT":
      case "UND_ERR_CONNECT_TIMEOUT":
      case "UND_ERR_HEADERS_TIMEOUT":
        return `timed out connecting to ${where ?? "the server"}`;
      case "EHOSTUNREACH":
      case "ENETUNREACH":
        return `${where ?? "the host"} is unreachable`;
    }
    if (typeof c.code === "string" && /CERT|TLS|SSL|SELF_SIGNED/.test(c.code)) return `TLS failed: ${c.message ?? c.code}`;
    if (c.name === "TimeoutError") return "timed out";
  }
  return null;
}

/** What an S3 service error says, in words; null when it is not one. */
function s3(err: unknown, bucket?: string): string | null {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; Code?: string; BucketName?: string };
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return null;
  const name = e.Code ?? e.name ?? "";
  const which = e.BucketName ?? bucket;
  if (name === "NoSuchBucket" || (status === 404 && which && /bucket/i.test(e.message ?? name)))
    return which ? `bucket ${which} does not exist` : "the bucket does not exist";
  if (name === "SignatureDoesNotMatch" || name === "InvalidAccessKeyId") return `the credentials were refused (${name})`;
  if (name === "AccessDenied" || status === 403) return `access denied (HTTP 403${name && name !== "AccessDenied" ? `, ${name}` : ""})`;
  return `HTTP ${status}${name ? ` (${name})` : ""}${e.message && e.message !== name && e.message !== "UnknownError" ? `: ${e.message}` : ""}`;
}

/** The failure in one line. `bucket`: the bucket the command was using, to name it. */
export function describeFailure(err: unknown, bucket?: string): string {
  if (err instanceof ToolFailure) return err.message;
  const said = network(err) ?? s3(err, bucket);
  if (said) return said;
  if (!(err instanceof Error)) return String(err) || "failed (no reason given)";
  // "fetch failed" says nothing: its cause says what ("bad port", …).
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message === "bad port")
    return "fetch refuses that port (one of the ports browsers block, such as 6000 or 10080): use another";
  const because = cause instanceof Error && cause.message && !err.message.includes(cause.message) ? `: ${cause.message}` : "";
  return `${err.message.split("\n")[0] || err.name}${because}`;
}

/** Whether an error is a failure of the world (network, a server's answer) rather than a bug. */
function expected(err: unknown): boolean {
  return err instanceof ToolFailure || network(err) !== null || s3(err) !== null;
}

let installed = false;

/**
 * Every failure that reaches the top of a command ends it with one `✗` line and exit 1; a bug
 * (anything not a failure of the world) also shows where it happened, after that line.
 */
export function installFailureHandler(): void {
  if (installed) return;
  installed = true;
  const end = (err: unknown) => {
    console.error(`✗ ${describeFailure(err)}`);
    if (!expected(err) && err instanceof Error && err.stack) console.error(err.stack.split("\n").slice(1).join("\n"));
    process.exit(1);
  };
  process.on("uncaughtException", end);
  process.on("unhandledRejection", end);
}
