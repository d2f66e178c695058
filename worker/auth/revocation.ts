/**
 * The revocation list: per user a cut-off (tokens issued at or before it are refused) and single
 * token ids, kept in the bucket so every isolate and every backend sees the same list without a
 * redeploy. Each isolate re-reads it at most every AUTH_REVOCATION_TTL_SECONDS, which bounds how
 * long a revoked token still works.
 */

import type { ObjectStore } from "../store/store";
import type { TokenPayload } from "./token";

/** Under `_pkgedge/`, which no Pkg client ever asks for. */
export const REVOCATION_KEY = "_pkgedge/auth/revoked.json";

export interface RevocationList {
  /** User → cut-off, seconds since the epoch. */
  users: Record<string, number>;
  /** Token id → when it was revoked, seconds since the epoch. */
  tokens: Record<string, number>;
}

/** A user's cut-off covers every grant issued at or before it; a token id names one token, or a whole grant. */
export function isRevoked(list: RevocationList, payload: TokenPayload): boolean {
  const cutoff = Object.hasOwn(list.users, payload.sub) ? list.users[payload.sub]! : undefined;
  return (
    (cutoff !== undefined && payload.giat <= cutoff) || Object.hasOwn(list.tokens, payload.jti) || Object.hasOwn(list.tokens, payload.gid)
  );
}

/** The stored revocation list cannot be parsed: no token is let through unchecked while it is so. */
export class RevocationsUnreadable extends Error {}

/** The stored list; an object of another shape is an error, never an empty list (that would un-revoke). */
function parseList(text: string): RevocationList {
  let json: Partial<RevocationList> | null;
  try {
    json = JSON.parse(text) as Partial<RevocationList> | null;
  } catch {
    throw new RevocationsUnreadable(`${REVOCATION_KEY} is not JSON`);
  }
  const record = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!record(json) || !record(json!.users) || !record(json!.tokens))
    throw new RevocationsUnreadable(`${REVOCATION_KEY} is not a revocation list`);
  return { users: { ...json!.users }, tokens: { ...json!.tokens } };
}

const EMPTY = (): RevocationList => ({ users: {}, tokens: {} });

async function readList(store: ObjectStore): Promise<{ list: RevocationList; etag: string | null }> {
  const obj = await store.get(REVOCATION_KEY);
  if (!obj) return { list: EMPTY(), etag: null };
  return { list: parseList(await new Response(obj.body).text()), etag: obj.etag };
}

interface Cached {
  list: RevocationList;
  readAt: number;
}

/** One copy per store, so per runtime (each isolate, each configuration)... */
const cached = new WeakMap<ObjectStore, Cached>();
/** ...and at most one read of it at a time: requests that find the copy stale share that read. */
const reading = new WeakMap<ObjectStore, Promise<RevocationList>>();

/** After a failed read, how long a known copy is used before the bucket is asked again. */
const RETRY_AFTER_FAILURE_MS = 5_000;

/**
 * The list as this isolate knows it, read again once older than `ttlSeconds`. When the bucket
 * cannot be read the last copy is kept (and the read retried a few seconds later, not by every
 * request); with no copy at all the error goes up: a request is not let through unchecked.
 */
export async function revocations(store: ObjectStore, ttlSeconds: number, now = Date.now()): Promise<RevocationList> {
  const known = cached.get(store);
  if (known && now - known.readAt < ttlSeconds * 1000) return known.list;
  const inFlight = reading.get(store);
  if (inFlight) return inFlight;
  const read = (async () => {
    try {
      const { list } = await readList(store);
      cached.set(store, { list, readAt: now });
      return list;
    } catch (err) {
      if (!known) throw err;
      cached.set(store, { list: known.list, readAt: Math.min(now, now - ttlSeconds * 1000 + RETRY_AFTER_FAILURE_MS) });
      return known.list;
    } finally {
      reading.delete(store);
    }
  })();
  reading.set(store, read);
  return read;
}

export type Revocation = { user: string } | { jti: string };

/** Other revocations kept winning the conditional write: the caller may try again. */
export class RevocationContended extends Error {}

/** Adds a revocation, written only over the copy it read (a concurrent revocation is not lost). */
export async function revoke(store: ObjectStore, what: Revocation, now = Date.now()): Promise<void> {
  const seconds = Math.floor(now / 1000);
  for (let attempt = 0; attempt < 5; attempt++) {
    const { list, etag } = await readList(store);
    if ("user" in what) list.users[what.user] = seconds;
    else list.tokens[what.jti] = seconds;
    const written = await store.putSmall(REVOCATION_KEY, JSON.stringify(list), { contentType: "application/json", onlyIfEtag: etag });
    if (written) {
      cached.set(store, { list, readAt: now });
      return;
    }
  }
  throw new RevocationContended(`${REVOCATION_KEY} kept changing while it was written (other revocations at the same time): try again`);
}
