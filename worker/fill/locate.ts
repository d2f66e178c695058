/**
 * Where a fill's body comes from, and what the resource's coordinator remembers of the upstreams'
 * answers (RecentLookups): for a tarball, which of its upstreams have it (a HEAD to each, best
 * first); for a binary-mirror file, one GET of its one upstream (conditional when a copy is being
 * revalidated). Only "not there" is an absence; upstreams that could not be asked are an outage,
 * remembered only briefly, so the first request after they recover fills.
 */

import type { Config } from "../config";
import {
  getOnce,
  isAnswerAboutPath,
  probeUpstreams,
  statusInWords,
  type UpstreamBody,
  type UpstreamHit,
  type Validators,
} from "../upstream/upstream";
import { QUARANTINE_SECONDS, type FillDeps } from "./fill";
import type { FillTarget, NoFill } from "./target";
import type { Unavailable } from "./coordinator-calls";
import { log } from "../log";

export type Location =
  | { kind: "found"; hits: UpstreamHit[]; more: Promise<UpstreamHit[]> }
  | { kind: "absent" }
  | { kind: "unavailable"; errors: string[] };

/**
 * Which upstreams have this resource, best first: from recent memory, else by probing them all.
 * `more` resolves to every upstream that has it once all probes settled (for falling back). Only
 * "every upstream said 404" is absence; if any could not be asked, the answer is "unavailable".
 */
export async function locate(deps: FillDeps, target: FillTarget): Promise<Location> {
  const { config, recent } = deps;
  const key = target.key;
  // An upstream that served bad bytes for this key is passed over, whatever memory says; so is one
  // memory names that this target no longer lists (a fill resumed under a narrower configuration).
  const usable = (hits: UpstreamHit[]) =>
    hits.filter((h) => target.upstreams.includes(h.upstream) && !recent.isQuarantined(key, h.upstream));
  const known = recent.lookup(key);
  if (known?.kind === "absent" || known?.kind === "unavailable") return known;
  const knownUsable = known?.kind === "hits" ? usable(known.hits) : [];
  if (knownUsable.length > 0) return { kind: "found", hits: knownUsable, more: Promise.resolve(knownUsable) };
  const probe = await probeUpstreams(target.upstreams, target.path, config.upstreamTimeoutMs);
  let hits = probe.found ? usable(probe.hits) : [];
  // The first to answer may be one we pass over: then wait for the others before giving up.
  if (probe.found && hits.length === 0) hits = usable(await probe.all);
  if (!probe.found || hits.length === 0) {
    // Upstreams that have it but are passed over (bad bytes, a break) make an outage, not an absence.
    const errors = probe.found
      ? [`every upstream that has it served bytes that failed verification or broke off (passed over for ${QUARANTINE_SECONDS} s)`]
      : probe.errors;
    if (!probe.found && !probe.unavailable) {
      log("info", "upstream_miss", { key, errors });
      recent.remember(key, { kind: "absent" }, config.negativeTtlSeconds);
      return { kind: "absent" };
    }
    log("warn", "upstream_unavailable", { key, errors });
    recent.remember(key, { kind: "unavailable", errors }, config.failureTtlSeconds);
    return { kind: "unavailable", errors };
  }
  recent.remember(key, { kind: "hits", hits }, config.negativeTtlSeconds);
  // Once every probe has answered, remember all upstreams that have it, winner first.
  const more = probe.all.then((all) => {
    const ordered = [...hits, ...usable(all).filter((h) => !hits.some((w) => w.upstream === h.upstream))];
    recent.remember(key, { kind: "hits", hits: ordered }, config.negativeTtlSeconds);
    return ordered;
  });
  return { kind: "found", hits, more };
}

/**
 * What memory says of a target's one upstream before it is asked (that it does not have it, that
 * it could not be asked, or that it served bad bytes for this key); null when it must be asked.
 */
export function recalled(deps: FillDeps, target: FillTarget): NoFill | null {
  const { config, recent } = deps;
  const upstream = target.upstreams[0]!;
  const known = recent.lookup(target.key);
  if (known?.kind === "absent") return { kind: "not-found", status: known.status };
  if (known?.kind === "unavailable") return { kind: "upstream-failed", ...outage(config, known.errors) };
  if (recent.isQuarantined(target.key, upstream)) {
    return {
      kind: "upstream-failed",
      detail: `${upstream} served bytes that failed verification (passed over for ${QUARANTINE_SECONDS} s)`,
      retryAfterSeconds: config.failureTtlSeconds,
    };
  }
  return null;
}

/**
 * One GET of a target's one upstream (conditional when `validators` are given). Its status is the
 * answer when it is not a body: an answer about the path is passed on and remembered like a 404
 * (for a binary mirror's bucket: 404, 403, 410; for a Pkg server, `absent` says: 404 and 410, as
 * a probe reads them); anything else is an outage.
 */
export async function getOnly(
  deps: FillDeps,
  target: FillTarget,
  validators?: Validators,
  absent: (status: number, upstream: string) => boolean = isAnswerAboutPath,
): Promise<NoFill | { kind: "body"; response: UpstreamBody }> {
  const { config, recent } = deps;
  const upstream = target.upstreams[0]!;
  const answer = await getOnce(upstream, target.path, config.upstreamTimeoutMs, validators);
  if (answer.kind === "not-modified" || answer.kind === "body") return answer;
  if (answer.kind === "status" && absent(answer.status, upstream)) {
    log("info", "upstream_miss", { key: target.key, status: answer.status });
    recent.remember(target.key, { kind: "absent", status: answer.status }, config.negativeTtlSeconds);
    return { kind: "not-found", status: answer.status };
  }
  const errors = [answer.kind === "failed" ? answer.error : `${upstream}: GET answered ${statusInWords(answer.status)}`];
  log("warn", "upstream_unavailable", { key: target.key, errors });
  recent.remember(target.key, { kind: "unavailable", errors }, config.failureTtlSeconds);
  return { kind: "upstream-failed", ...outage(config, errors) };
}

/** Upstreams that could not be asked: an outage, retried after the brief failure memory. */
export function outage(config: Config, errors: string[]): Unavailable {
  return { detail: errors.join("; "), retryAfterSeconds: Math.max(1, config.failureTtlSeconds) };
}
