/**
 * The access log: one JSON line per request (event `request`), written once the response body has
 * been delivered or broke, so the status and bytes are what the client got. It carries what the
 * replaced nginx logged — the Julia client headers, request time, bytes — plus the cache outcome
 * and the upstream used. Client addresses are never logged; with CLIENT_HASH_KEY set, a keyed hash
 * of the address is (so distinct clients can be counted without knowing who they are).
 */

import type { Delivered } from "../streams/bytes.ts";
import { truncateUtf8 } from "./bounded-text.ts";

/**
 * What a client sends (its headers, the path) is logged cut to this many bytes of UTF-8 each:
 * real values are far shorter (a Julia-System triple is under 100), and a client must not be able
 * to make log lines as large as its headers may be. Cut fields are named in `truncated`.
 */
const MAX_LOGGED_VALUE_BYTES = 1024;

/**
 * How a request was answered: from the bucket, by a redirect to the bucket's public copy
 * (STORED_REDIRECT_BASE: the bytes went from there, unseen here), by a fill it started or joined,
 * "nobody has it", or a failure.
 */
export type CacheOutcome = "hit" | "redirect" | "miss" | "joined" | "negative" | "error";

/** What the routes note about a request as they answer it. */
export class RequestNote {
  cache: CacheOutcome | null = null;
  upstream: string | null = null;
  /** The resource kind (`package`, `artifact`, `registry`, `mirror`, `registries`), for rollups. */
  kind: string | null = null;
  /** The package or registry UUID, when the path names one. */
  uuid: string | null = null;
  /** How a tarball answer was compressed: gzip, or its zstd variant. */
  encoding: "gzip" | "zstd" | null = null;
  /** With AUTH on: the token's subject, or why the request was refused (never the token). */
  authUser: string | null = null;
  authRefusal: string | null = null;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:+=/-]{1,128}$/;

/** The client's X-Request-ID when it is a sane token, else a new one (echoed in the response either way). */
export function requestIdOf(header: string | null): string {
  return header !== null && REQUEST_ID_RE.test(header) ? header : crypto.randomUUID();
}

export interface AccessRecord {
  time: string;
  method: string;
  path: string;
  status: number;
  /** Body bytes the client took; null when the runtime delivered them and a broken transfer did not say how many. */
  bytes: number | null;
  /** The body broke before its end (the status line had already gone out). */
  broken: boolean;
  duration_ms: number;
  cache: CacheOutcome | null;
  upstream: string | null;
  kind: string | null;
  uuid: string | null;
  /** A tarball's compression as served (gzip, or the zstd variant for clients that asked). */
  encoding: "gzip" | "zstd" | null;
  julia_version: string | null;
  julia_system: string | null;
  julia_ci_variables: string | null;
  julia_interactive: string | null;
  julia_pkg_server: string | null;
  user_agent: string | null;
  request_id: string;
  client?: string;
  /** With AUTH on: who the token was for, or why there was none that held (missing, expired, …). */
  auth_user?: string;
  auth?: string;
  country?: string;
  colo?: string;
  /** The fields cut to MAX_LOGGED_VALUE_BYTES, when any was. */
  truncated?: string[];
}

export function accessRecord(
  request: Request,
  path: string,
  status: number,
  note: RequestNote,
  delivered: Delivered,
  startedAt: number,
  requestId: string,
): AccessRecord {
  const truncated: string[] = [];
  const bounded = (field: string, value: string): string => {
    const cut = truncateUtf8(value, MAX_LOGGED_VALUE_BYTES);
    if (cut !== value) truncated.push(field);
    return cut;
  };
  const header = (field: string, name: string): string | null => {
    const value = request.headers.get(name);
    return value === null ? null : bounded(field, value);
  };
  const cf = (request as { cf?: { country?: unknown; colo?: unknown } }).cf;
  const record: AccessRecord = {
    time: new Date(startedAt).toISOString(),
    method: request.method,
    path: bounded("path", path),
    status,
    bytes: delivered.bytes,
    broken: !delivered.complete,
    duration_ms: Date.now() - startedAt,
    cache: note.cache,
    upstream: note.upstream,
    kind: note.kind,
    uuid: note.uuid,
    encoding: note.encoding,
    julia_version: header("julia_version", "julia-version"),
    julia_system: header("julia_system", "julia-system"),
    julia_ci_variables: header("julia_ci_variables", "julia-ci-variables"),
    julia_interactive: header("julia_interactive", "julia-interactive"),
    julia_pkg_server: header("julia_pkg_server", "julia-pkg-server"),
    user_agent: header("user_agent", "user-agent"),
    request_id: requestId,
  };
  if (truncated.length > 0) record.truncated = truncated;
  if (note.authUser !== null) record.auth_user = note.authUser;
  if (note.authRefusal !== null) record.auth = note.authRefusal;
  // A request from this machine (wrangler dev) has no location: the local runtime's cf values are made up.
  if (!fromLoopback(request)) {
    if (typeof cf?.country === "string") record.country = cf.country;
    if (typeof cf?.colo === "string") record.colo = cf.colo;
  }
  return record;
}

function fromLoopback(request: Request): boolean {
  const address = request.headers.get("cf-connecting-ip");
  return address === null || /^(127\.|::1$|::ffff:127\.)/.test(address);
}

/** HMAC-SHA256 of the client address under the operator's key, first 16 hex digits. */
export async function clientHash(key: string, address: string): Promise<string> {
  const k = await crypto.subtle.importKey("raw", new TextEncoder().encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(address)));
  return [...mac.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
