/**
 * Reading a registry's history: its repository's recent commits, newest first, each with the tree
 * hash that is a snapshot's hash (GitHub's commits API: `commit.tree.sha`). One request returns up
 * to 100 commits. Answers are values, never thrown: a rate limit or an outage says when to ask again.
 */

import { describeFailure, UPSTREAM_HEADERS } from "../upstream/upstream";
import { textUpTo } from "../streams/bytes";
import { registryAuthorization, type RegistryCredential } from "./origin";
import { scopedFetch } from "../upstream/credentials";

export type HistoryRead =
  /** Tree hashes, newest first. */
  | { kind: "read"; trees: string[] }
  /** `retryAt` (ms): not before then (a rate limit's reset). */
  | { kind: "unavailable"; error: string; retryAt?: number };

/** GitHub's largest page; a page of 100 commits is about 300 KB of JSON. */
const PER_PAGE = 100;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** How long a rate limit without a stated reset keeps the history from being asked. */
const RATE_LIMIT_PAUSE_MS = 10 * 60_000;
export const MAX_PAUSE_MS = 3600_000;
/** Below the cron period, so each round may read once; above it only request-driven rounds would. */
export const MIN_READ_INTERVAL_MS = 50_000;
const TREE_HASH = /^[0-9a-f]{40}$/;

/** The URL of the first page, newest first. */
export function historyPageUrl(historyUrl: string): string {
  const url = new URL(historyUrl);
  url.searchParams.set("per_page", String(PER_PAGE));
  return url.href;
}

/** The tree hashes of a commits API answer, newest first, or why it is not one. */
export function treesOfCommits(json: unknown): string[] | string {
  if (!Array.isArray(json)) return "the answer is not a list of commits";
  const trees: string[] = [];
  for (const item of json) {
    const sha = (item as { commit?: { tree?: { sha?: unknown } } } | null)?.commit?.tree?.sha;
    if (typeof sha !== "string" || !TREE_HASH.test(sha)) return "a commit without a tree hash";
    trees.push(sha);
  }
  return trees;
}

/** When a refusal says the limit resets (x-ratelimit-reset, epoch seconds; retry-after, seconds). */
function retryAtOf(headers: Headers, now: number): number {
  const reset = Number(headers.get("x-ratelimit-reset"));
  const after = Number(headers.get("retry-after"));
  const at =
    Number.isFinite(reset) && reset > 0
      ? reset * 1000
      : Number.isFinite(after) && after > 0
        ? now + after * 1000
        : now + RATE_LIMIT_PAUSE_MS;
  return Math.min(Math.max(at, now), now + MAX_PAUSE_MS);
}

export async function readHistory(
  historyUrl: string,
  timeoutMs: number,
  githubToken?: string,
  now = Date.now(),
  credential?: RegistryCredential,
): Promise<HistoryRead> {
  const url = historyPageUrl(historyUrl);
  const host = new URL(url).host;
  try {
    const headers: Record<string, string> = { ...UPSTREAM_HEADERS, accept: "application/vnd.github+json" };
    // Redirects are followed by hand, so a hop to another host gets no credential.
    const res = await scopedFetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) }, (at) =>
      registryAuthorization(at, githubToken, credential),
    );
    if (res.status === 403 || res.status === 429) {
      await res.body?.cancel();
      const limited = res.status === 429 || res.headers.get("x-ratelimit-remaining") === "0" || res.headers.has("retry-after");
      const hint = githubToken ? "" : ": set GITHUB_TOKEN";
      return limited
        ? { kind: "unavailable", error: `${host} answered ${res.status} (rate limited${hint})`, retryAt: retryAtOf(res.headers, now) }
        : { kind: "unavailable", error: `${host} answered ${res.status}` };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return { kind: "unavailable", error: `${host} answered ${res.status}` };
    }
    const length = Number(res.headers.get("content-length") ?? 0);
    if (length > MAX_BODY_BYTES) {
      await res.body?.cancel();
      return { kind: "unavailable", error: `${host} sent ${length} bytes of history (at most ${MAX_BODY_BYTES})` };
    }
    const text = res.body ? await textUpTo(res.body, MAX_BODY_BYTES) : "";
    if (text === null) return { kind: "unavailable", error: `${host} sent more than ${MAX_BODY_BYTES} bytes of history` };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { kind: "unavailable", error: `${host} answered with something that is not JSON` };
    }
    const trees = treesOfCommits(json);
    return typeof trees === "string" ? { kind: "unavailable", error: `${host}: ${trees}` } : { kind: "read", trees };
  } catch (err) {
    return { kind: "unavailable", error: describeFailure(err, url, timeoutMs) };
  }
}
