/** How a test configures one upstream on the fixture server (see test/fixtures/upstream-server.ts). */

/**
 * What an upstream does wrong for one path. HEAD answers normally unless the fault says otherwise,
 * as a real server would (it is the GET body that goes bad).
 */
export type Fault =
  | "wrong-bytes" // a different, valid tarball with its own correct length
  | "truncate" // announces the full length, sends half, closes cleanly
  | "overlong" // sends more bytes than its Content-Length
  | "corrupt-gzip" // right length, bytes flipped in the middle
  | "status-500" // HEAD and GET answer 500
  | "status-403" // HEAD and GET answer 403 (a refusal that is not an absence to a Pkg server's client)
  | "status-410" // HEAD and GET answer 410 (gone: an absence)
  | "status-503" // HEAD and GET answer 503
  | "get-503" // HEAD 200, GET 503
  | "get-hang" // HEAD 200, GET never answered (no status line)
  | "stall" // headers and half the body, then silence
  | "reset" // headers and half the body, then a TCP reset
  | "corrupt-reset" // headers, then all but the last 16 bytes with bytes flipped in the middle, then a TCP reset (ranged GETs too)
  | "reset-once" // the first whole GET resets as "reset" does; every later GET (ranged or whole) is answered well
  | "no-length" // chunked transfer, no Content-Length
  | "overlong-no-length" // chunked transfer, no Content-Length, the whole body and then 1024 bytes more
  | "redirect" // 302 to another path on the same upstream that serves the bytes
  | "redirect-away" // 302 to that path on another origin (the fixture's second port), which needs no Authorization
  | "slow" // the body in small pieces over about two seconds
  | "dribble" // HEAD at once; GET headers at once, then 20 bytes a second
  | "bad-ranges" // whole GETs are right; ranged GETs answer 206 with bytes flipped
  | "encoded-ranges" // whole GETs are right; ranged GETs answer 206 with Content-Encoding: gzip (the range's bytes, gzipped in transit)
  | "no-ranges" // ignores Range: every GET answers 200 with the whole body
  | "head-length-mismatch" // HEAD announces 1000 bytes more than GET sends (GET itself is consistent)
  | "gzip-bomb"; // HEAD and GET announce and send a gzipped tar of 128 MiB of zeros (about 130 KB: 1000:1) instead

export interface UpstreamConfig {
  /** Registry list bodies; a missing or null entry answers 404. */
  lists?: { eager?: string | null; conservative?: string | null; flavourless?: string | null };
  /** Serve only these protocol paths (default: every fixture tarball). */
  only?: string[];
  /** Serve the fixture at the value's path under the key's path too (a tarball under a name it may not match). */
  aliases?: Record<string, string>;
  /** Serve bodies at about this many bytes per second (a realistic internet download). */
  rate?: number;
  /** Serve ranged (206) bodies at about this many bytes per second. */
  rangedRate?: number;
  faults?: Record<string, Fault>;
  /** Answer every HEAD only after this many milliseconds (so another upstream wins the race). */
  headDelayMs?: number;
  /**
   * As a registry's origin, at `/origin/<hash>`: the tree hashes it knows (default: every fixture
   * registry snapshot), or "down" to answer 503 to everything. `/moved-origin/<hash>` answers 301
   * to `/origin/<hash>` whatever the hash (a renamed repository's answer).
   */
  origin?: string[] | "down";
  /**
   * As the registry's history, at `/history` (GitHub's commits API: newest first, each with
   * `commit.tree.sha`): the tree hashes in the order they were committed (default: every fixture
   * registry snapshot, in the manifest's order); "down" answers 503, "rate-limited" 403 with
   * `x-ratelimit-remaining: 0` (GitHub's answer), "429" 429 with `retry-after: 60`, "endless" a
   * chunked 200 (no Content-Length) of 64 MiB, "dribble" a 200 whose body comes a byte every half second for a minute.
   */
  /**
   * Answer 401 to every request whose Authorization header is not this value (a private upstream);
   * what "redirect-away" redirects to is served without it, as a download host would.
   */
  authorization?: string;
  history?: string[] | "down" | "rate-limited" | "429" | "endless" | "dribble";
}
