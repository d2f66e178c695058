/**
 * Filling a miss from upstream (spec §6.3): probe the upstreams, GET from the first that has the
 * resource, pass the body through the commit gate (and a tap, through which the resource's
 * coordinator shares the bytes with its requesters), and write it to the bucket. The object
 * appears only if every check passed; otherwise the write is abandoned, and the tap's readers see
 * a broken stream rather than a clean end.
 */

import type { Resource } from "../routes/grammar";
import type { ObjectStore } from "../store/store";
import type { Config } from "../config";
import { probeUpstreams, getFromUpstreams, type UpstreamHit } from "../upstream/upstream";
import { commitGate, lengthCheck, withIdleTimeout, type Verdict } from "./gate";
import { treeHashCheck } from "./verified";
import type { RecentLookups } from "./recent";
import { log } from "../log";

export const TARBALL_CONTENT_TYPE = "application/x-gzip";

export interface FillDeps {
  config: Config;
  store: ObjectStore;
  recent: RecentLookups;
  /** Keeps background work (the bucket write) alive after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

export type FillOutcome =
  | { committed: true; upstream: string; bytes: number }
  /** `blame` says whether the upstream's bytes failed a check or the bucket write failed. */
  | { committed: false; upstream: string; reason: string; blame: "upstream" | "store" };

export type FillStart =
  | { kind: "not-found" }
  | { kind: "upstream-failed"; errors: string[] }
  | {
      kind: "streaming";
      upstream: string;
      length: number | undefined;
      /** Settles when the bucket write has been committed or abandoned. */
      outcome: Promise<FillOutcome>;
    };

/** How long an upstream that served bad bytes for a key is passed over for that key. */
const QUARANTINE_SECONDS = 600;

/**
 * Which upstreams have this resource, best first: from recent memory, else by probing them all.
 * `more` resolves to every upstream that has it once all probes settled (for falling back).
 */
export async function locate(deps: FillDeps, resource: Resource): Promise<{ hits: UpstreamHit[]; more: Promise<UpstreamHit[]> } | null> {
  const { config, recent } = deps;
  // An upstream that served bad bytes for this key is passed over, whatever memory says.
  const usable = (hits: UpstreamHit[]) => hits.filter((h) => !recent.isQuarantined(resource.key, h.upstream));
  const known = recent.lookup(resource.key);
  if (known === null) return null;
  const knownUsable = known && usable(known);
  if (knownUsable && knownUsable.length > 0) return { hits: knownUsable, more: Promise.resolve(knownUsable) };
  const probe = await probeUpstreams(config.upstreams, "/" + resource.key, config.upstreamTimeoutMs);
  let hits = probe.found ? usable(probe.hits) : [];
  // The first to answer may be one we pass over: then wait for the others before giving up.
  if (probe.found && hits.length === 0) hits = usable(await probe.all);
  if (!probe.found || hits.length === 0) {
    log("info", "upstream_miss", { key: resource.key, errors: probe.found ? ["every upstream with it is quarantined"] : probe.errors });
    recent.remember(resource.key, null, config.negativeTtlSeconds);
    return null;
  }
  recent.remember(resource.key, hits, config.negativeTtlSeconds);
  // Once every probe has answered, remember all upstreams that have it, winner first.
  const more = probe.all.then((all) => {
    const ordered = [...hits, ...usable(all).filter((h) => !hits.some((w) => w.upstream === h.upstream))];
    recent.remember(resource.key, ordered, config.negativeTtlSeconds);
    return ordered;
  });
  return { hits, more };
}

export interface FillOptions {
  /** Sees every gated byte on its way to the bucket (a shared fill's window). */
  tap?: (start: { upstream: string; length: number | undefined }) => TransformStream<Uint8Array, Uint8Array>;
}

export async function fillFromUpstream(deps: FillDeps, resource: Resource, options: FillOptions): Promise<FillStart> {
  const { config, store, recent } = deps;
  const located = await locate(deps, resource);
  if (!located) return { kind: "not-found" };

  let got = await getFromUpstreams(located.hits.map((h) => h.upstream), "/" + resource.key, config.upstreamTimeoutMs);
  if (!got.ok) {
    // The winner failed; fall back to the upstreams whose HEAD answered later.
    const tried = new Set(located.hits.map((h) => h.upstream));
    const rest = (await located.more).map((h) => h.upstream).filter((u) => !tried.has(u));
    if (rest.length > 0) {
      const retry = await getFromUpstreams(rest, "/" + resource.key, config.upstreamTimeoutMs);
      got = retry.ok ? retry : { ok: false, errors: [...got.errors, ...retry.errors] };
    }
  }
  if (!got.ok) {
    // HEAD said yes but GET failed everywhere (spec C46): fail this request, retry after the TTL.
    recent.remember(resource.key, null, config.negativeTtlSeconds);
    return { kind: "upstream-failed", errors: got.errors };
  }
  const { upstream, length } = got.response;

  // Every fill is verified: nothing reaches the bucket whose length or tree hash is wrong.
  const gate = commitGate([lengthCheck(length), treeHashCheck(resource)]);
  let gated = withIdleTimeout(got.response.body, config.upstreamIdleTimeoutMs, gate.abandon).pipeThrough(gate.stream);
  if (options.tap) gated = gated.pipeThrough(options.tap({ upstream, length }));
  const write = store.putStream(resource.key, gated, length, {
    contentType: TARBALL_CONTENT_TYPE,
    customMetadata: { upstream, fetchedAt: new Date().toISOString() },
  });
  const outcome = settleFill(resource, upstream, write, gate.verdict).then((result) => {
    if (!result.committed) {
      recent.forget(resource.key);
      if (result.blame === "upstream") recent.quarantine(resource.key, upstream, QUARANTINE_SECONDS);
    }
    return result;
  });
  deps.waitUntil(outcome);
  return { kind: "streaming", upstream, length, outcome };
}

/** Combines the bucket write and the gate's verdict into one logged outcome. */
async function settleFill(resource: Resource, upstream: string, write: Promise<boolean>, verdict: Promise<Verdict>): Promise<FillOutcome> {
  let writeError: string | undefined;
  try {
    await write;
  } catch (err) {
    writeError = err instanceof Error ? err.message : String(err);
  }
  // The write only finishes after the gate released the last chunk, so the verdict is in by now,
  // unless the write failed first; then the verdict may never come and the write error stands.
  const v = writeError === undefined ? await verdict : await Promise.race([verdict, Promise.resolve(undefined)]);
  if (v?.ok && writeError === undefined) {
    log("info", "fill_committed", { key: resource.key, upstream, ...v.details });
    return { committed: true, upstream, bytes: Number(v.details?.bytes ?? 0) };
  }
  const rejected = v !== undefined && !v.ok;
  const reason = rejected ? v.reason : (writeError ?? "unknown");
  log("warn", "fill_rejected", { key: resource.key, upstream, reason, ...(rejected ? v.details : {}), writeError });
  return { committed: false, upstream, reason, blame: rejected ? "upstream" : "store" };
}
