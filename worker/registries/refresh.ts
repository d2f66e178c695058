/**
 * Refreshing a flavor's registry list from upstream (spec §5.2): read what every upstream lists,
 * cross-check who has which snapshot, and take the newest one that may replace the published one
 * (order.ts), that its origin confirms (or, when the origin cannot be asked, that a quorum of
 * upstreams has), and that pkgedge could fetch, verify and commit; then record what it replaces and
 * publish the new list in one compare-and-swap write. Only registries in REGISTRIES are published.
 */

import type { Config, RegistryConfig } from "../config";
import { FLAVORS, type Flavor } from "../protocol/flavors";
import { REGISTRY_LIST_CONTENT_TYPE } from "../protocol/media";
import { formatRegistryList, parseRegistryList, parseResourcePath, registryPath, type RegistryRef } from "../protocol/paths";
import { getText, probeUpstreams } from "../upstream/upstream";
import type { MirrorDeps } from "../runtime";
import type { ObjectStore } from "../store/store";
import { observe, olderThan, quorumHolds, rankCandidates, type Observation } from "./order";
import { askOrigin, type OriginAnswer } from "./origin";
import type { RefreshMemory } from "./memory";
import { listKey, readState, StateUnreadable, updateState, type FlavorState, type RegistryReport } from "./state";
import { log } from "../log";

export type RefreshResult = { ok: true; changed: boolean; refs: RegistryRef[] } | { ok: false; error: string };

/** Per registry and round: candidates examined, and registry tarballs filled, at most. */
const MAX_CANDIDATES_PER_ROUND = 5;
const MAX_FILLS_PER_ROUND = 2;
/**
 * How long every upstream must have moved on to a tied hash before it replaces the published one,
 * when several are configured: less than a cron period, so such a move lands on the next round.
 */
const MOVED_ON_DWELL_MS = 45_000;

/** What a refresh reads from the world: upstream lists, who holds a snapshot, origins, and fills. */
export interface RegistrySources {
  upstreams: readonly string[];
  /** One upstream's list for a flavor, or why it could not be read. */
  listed(upstream: string, flavor: Flavor): Promise<RegistryRef[] | string>;
  /** Which of `upstreams` have this registry tarball. */
  holders(upstreams: string[], ref: RegistryRef): Promise<string[]>;
  origin(registry: RegistryConfig & { originTemplate: string }, hash: string): Promise<OriginAnswer>;
  /** Makes sure the tarball is committed (fetched and verified if need be): null, or why not. */
  store(ref: RegistryRef): Promise<string | null>;
  /** With PREFETCH_GATE: null once everything `ref` adds over `base` is in the bucket, else why it waits. */
  prefilled?(ref: RegistryRef, base: string | null): Promise<string | null>;
  /** `ref` was published in place of `base`: prefetch what it adds. */
  published?(ref: RegistryRef, base: string | null): Promise<void>;
}

/** The real world: upstream storage servers over HTTP, origins, and the resource's fill coordinator. */
export function upstreamSources(deps: MirrorDeps): RegistrySources {
  const timeout = deps.config.upstreamTimeoutMs;
  return {
    upstreams: deps.config.upstreams,
    async listed(upstream, flavor) {
      // A flavourless upstream's `/registries` serves every flavor (spec E7).
      let res = await getText(upstream, `/registries.${flavor}`, timeout);
      if (res.status === 404) res = await getText(upstream, "/registries", timeout);
      if (res.text === undefined) return `${upstream}: ${res.error ?? `status ${res.status}`}`;
      return parseRegistryList(res.text);
    },
    async holders(upstreams, ref) {
      const probe = await probeUpstreams(upstreams, registryPath(ref), timeout);
      return probe.found ? (await probe.all).map((h) => h.upstream) : [];
    },
    origin: (registry, hash) => askOrigin(registry, hash, timeout, deps.secrets.githubToken),
    async store(ref) {
      const resource = parseResourcePath(registryPath(ref))!;
      if (await deps.store.head(resource.key)) return null;
      const outcome = await deps.fills.commit(resource);
      return outcome.committed ? null : outcome.reason;
    },
    ...(deps.prefetch
      ? {
          prefilled: deps.config.prefetch.gate ? (ref, base) => deps.prefetch!.heldBack(ref, base, deps.store) : undefined,
          published: (ref, base) => deps.prefetch!.snapshotSeen(ref, base),
        }
      : {}),
  };
}

type Round =
  | { kind: "unchanged"; refs: RegistryRef[]; update: FlavorState }
  | { kind: "published"; refs: RegistryRef[]; update: FlavorState }
  | { kind: "conflict" }
  | { kind: "failed"; error: string; update: FlavorState };

/** Cross-check: an upstream that answered but does not list a hash may still have it. */
async function crossCheck(sources: RegistrySources, uuid: string, obs: Observation): Promise<void> {
  await Promise.all(
    [...obs.hashes].map(async ([treeHash, support]) => {
      const others = [...obs.responders].filter((u) => !support.holders.has(u));
      if (others.length === 0) return;
      for (const u of await sources.holders(others, { uuid, treeHash })) support.holders.add(u);
    }),
  );
}

type Trust = { ok: true; by: "origin" | "quorum" } | { ok: false; reason: string };

/** The origin is the authority for a hash pkgedge has not published; a quorum stands in when it cannot be asked. */
async function trust(
  sources: RegistrySources,
  registry: RegistryConfig,
  obs: Observation,
  hash: string,
  state: FlavorState | null,
  memory: RefreshMemory,
  report: RegistryReport,
): Promise<Trust> {
  const quorum = (why: string): Trust =>
    quorumHolds(obs, hash)
      ? { ok: true, by: "quorum" }
      : { ok: false, reason: `${why}, and not every answering upstream (at least two) has it` };
  if (!registry.originTemplate) return quorum("no origin configured");
  if (state?.confirmed?.[registry.uuid]?.includes(hash)) return { ok: true, by: "origin" };
  if (memory.saidNo(hash)) return { ok: false, reason: "its origin does not know it" };
  const answer = await sources.origin({ ...registry, originTemplate: registry.originTemplate }, hash);
  if (answer.kind === "known") return { ok: true, by: "origin" };
  if (answer.kind === "unknown") {
    memory.rememberNo(hash);
    return { ok: false, reason: `its origin does not know it (${answer.status})` };
  }
  report.originFailures = (report.originFailures ?? 0) + 1;
  report.lastOriginError = answer.error;
  log("warn", "registry_origin_unavailable", { uuid: registry.uuid, hash, error: answer.error });
  return quorum(`its origin could not be asked (${answer.error})`);
}

/**
 * The registry's snapshot another flavor publishes, when this flavor has none yet: what a new
 * snapshot is compared with for prefetching, so the first flavor to publish it (eager, usually)
 * does not take it for the registry's very first one.
 */
async function publishedElsewhere(store: ObjectStore, flavor: Flavor, uuid: string, hash: string): Promise<string | null> {
  for (const other of FLAVORS) {
    if (other === flavor) continue;
    const list = await store.get(listKey(other));
    if (!list) continue;
    const ref = parseRegistryList(await new Response(list.body).text()).find((r) => r.uuid === uuid);
    if (ref && ref.treeHash !== hash) return ref.treeHash;
  }
  return null;
}

async function refreshRound(
  store: ObjectStore,
  sources: RegistrySources,
  config: Pick<Config, "registries">,
  flavor: Flavor,
  memory: RefreshMemory,
  now: number,
): Promise<Round> {
  const [stored, state] = await Promise.all([store.get(listKey(flavor)), readState(store, flavor)]);
  const currentBody = stored ? await new Response(stored.body).text() : null;
  const allowed = new Map(config.registries.map((r) => [r.uuid, r]));
  // A registry no longer in REGISTRIES is no longer published.
  const published = new Map(
    (currentBody ? parseRegistryList(currentBody) : []).filter((r) => allowed.has(r.uuid)).map((r) => [r.uuid, r.treeHash]),
  );

  const answers = await Promise.all(sources.upstreams.map((u) => sources.listed(u, flavor)));
  const lists = new Map<string, RegistryRef[]>();
  const errors: string[] = [];
  answers.forEach((a, i) => {
    if (typeof a === "string") errors.push(a);
    else lists.set(sources.upstreams[i]!, a);
  });
  const update: FlavorState = { registries: {}, confirmed: {} };
  if (lists.size === 0) return { kind: "failed", error: errors.join("; ") || "no upstream answered", update };

  const observed = observe(lists, sources.upstreams.length);
  const ignored = [...observed.keys()].filter((uuid) => !allowed.has(uuid));
  update.ignored = { count: ignored.length, uuids: ignored.slice(0, 20) };

  const chosen = new Map(published);
  const storeFailures: string[] = [];
  for (const registry of config.registries) {
    const { uuid } = registry;
    const obs = observed.get(uuid);
    if (!obs) continue; // nobody lists it: what is published stays, at no cost
    const current = published.get(uuid);
    if (current !== undefined && !obs.hashes.has(current)) obs.hashes.set(current, { listers: new Set(), holders: new Set() });
    await crossCheck(sources, uuid, obs);
    const superseded = new Set(state?.superseded?.[uuid] ?? []);
    const ranking = rankCandidates(obs, current, superseded, new Set(state?.passed?.[uuid] ?? []));
    const report: RegistryReport = { refused: ranking.refused.map((r) => ({ hash: r.hash, reason: r.reason })), capped: null };
    update.registries![uuid] = report;
    if (ranking.backwards)
      log("warn", "registry_upstream_backwards", { flavor, uuid, published: current ?? null, refused: ranking.refused });
    // A move only "every upstream moved on" supports must hold across rounds: upstreams that all lag
    // in what they list for a round look the same as upstreams that all advanced.
    const movedOnNow = ranking.candidates.find((h) => ranking.movedOn.has(h));
    const pending = state?.movedOn?.[uuid];
    update.movedOn ??= {};
    update.movedOn[uuid] = movedOnNow
      ? { hash: movedOnNow, since: pending?.hash === movedOnNow ? pending.since : new Date(now).toISOString() }
      : null;
    // (With one upstream configured there is nobody else to wait for: it decides, as configured.)
    const held = (hash: string) => obs.configured < 2 || (pending?.hash === hash && now - Date.parse(pending.since) >= MOVED_ON_DWELL_MS);

    let fills = 0;
    for (const [i, hash] of ranking.candidates.entries()) {
      if (i >= MAX_CANDIDATES_PER_ROUND || fills >= MAX_FILLS_PER_ROUND) {
        report.capped =
          i >= MAX_CANDIDATES_PER_ROUND ? `tried ${MAX_CANDIDATES_PER_ROUND} candidates` : `started ${MAX_FILLS_PER_ROUND} fills`;
        log("warn", "registry_round_capped", { flavor, uuid, cap: report.capped, left: ranking.candidates.length - i });
        break;
      }
      if (ranking.movedOn.has(hash) && !held(hash)) {
        report.refused!.push({ hash, reason: `every upstream moved on to it; waiting ${MOVED_ON_DWELL_MS / 1000} s for that to hold` });
        continue;
      }
      if (memory.couldNotStore(hash)) {
        report.refused!.push({ hash, reason: "could not be stored in the last ten minutes" });
        continue;
      }
      const trusted = await trust(sources, registry, obs, hash, state, memory, report);
      if (!trusted.ok) {
        report.refused!.push({ hash, reason: trusted.reason });
        log("warn", "registry_candidate_untrusted", { flavor, uuid, hash, reason: trusted.reason });
        continue;
      }
      if (trusted.by === "origin") update.confirmed![uuid] = [...(update.confirmed![uuid] ?? []), hash];
      fills++;
      const failure = await sources.store({ uuid, treeHash: hash });
      if (failure !== null) {
        memory.rememberUnstorable(hash);
        report.refused!.push({ hash, reason: `could not be stored: ${failure}` });
        log("warn", "registry_candidate_unusable", { flavor, uuid, hash, reason: failure });
        storeFailures.push(`${registryPath({ uuid, treeHash: hash })}: ${failure}`);
        continue;
      }
      // The gate (PREFETCH_GATE): conservative clients get a snapshot once all it adds is here.
      const waiting =
        flavor === "conservative" && sources.prefilled
          ? await sources.prefilled({ uuid, treeHash: hash }, current ?? (await publishedElsewhere(store, flavor, uuid, hash)))
          : null;
      if (waiting !== null) {
        report.refused!.push({ hash, reason: waiting });
        continue;
      }
      chosen.set(uuid, hash);
      Object.assign(report, { hash, confirmedBy: trusted.by });
      const older = olderThan(obs, hash);
      if (older.length > 0) update.passed = { ...update.passed, [uuid]: older };
      break;
    }
    if (report.hash === undefined && current !== undefined) report.hash = current;
  }

  const refs = [...chosen].map(([uuid, treeHash]) => ({ uuid, treeHash }));
  const couldNot = `no advertised registry could be fetched and verified: ${storeFailures.join("; ")}`;
  if (refs.length === 0)
    return { kind: "failed", error: storeFailures.length > 0 ? couldNot : "no upstream lists a registry in REGISTRIES", update };
  const body = formatRegistryList(refs);
  if (body === currentBody)
    return storeFailures.length > 0 ? { kind: "failed", error: couldNot, update } : { kind: "unchanged", refs, update };

  // Bookkeeping first: what this list replaces is recorded before the list changes, so a write
  // that fails after publishing cannot lose it. (Recording a hash that then stays published is
  // harmless: the published hash is never filtered, and once replaced it was meant to be.)
  const replaced = [...published].filter(([uuid, hash]) => chosen.get(uuid) !== hash);
  const superseded: Record<string, string[]> = {};
  for (const [uuid, hash] of replaced) superseded[uuid] = [...(superseded[uuid] ?? []), hash];
  await updateState(store, flavor, { superseded, passed: update.passed, confirmed: update.confirmed });
  // Compare-and-swap: if another refresh published since we read the list, decide again from its list.
  const written = await store.putSmall(listKey(flavor), body, {
    contentType: REGISTRY_LIST_CONTENT_TYPE,
    onlyIfEtag: stored?.etag ?? null,
  });
  if (!written) return { kind: "conflict" };
  const at = new Date(now).toISOString();
  for (const [uuid, report] of Object.entries(update.registries!)) if (chosen.get(uuid) !== published.get(uuid)) report.publishedAt = at;
  log("info", "registry_published", {
    flavor,
    lines: body.trimEnd().split("\n"),
    replaced: replaced.map(([uuid, treeHash]) => registryPath({ uuid, treeHash })),
  });
  for (const [uuid, treeHash] of chosen) {
    if (published.get(uuid) === treeHash || !sources.published) continue;
    // Prefetching is a courtesy to the next clients: it never holds back or fails a publish.
    await sources
      .published({ uuid, treeHash }, published.get(uuid) ?? (await publishedElsewhere(store, flavor, uuid, treeHash)))
      .catch((err) => log("warn", "prefetch_plan_failed", { uuid, hash: treeHash, error: String(err) }));
  }
  return { kind: "published", refs, update };
}

export async function refreshFlavor(
  store: ObjectStore,
  sources: RegistrySources,
  config: Pick<Config, "registries">,
  flavor: Flavor,
  memory: RefreshMemory,
  now: () => number = Date.now,
): Promise<RefreshResult> {
  const attemptAt = new Date(now()).toISOString();
  let result: RefreshResult = { ok: false, error: "too many concurrent refreshes" };
  let update: FlavorState = {};
  try {
    for (let round = 0; round < 3; round++) {
      const outcome = await refreshRound(store, sources, config, flavor, memory, now());
      if (outcome.kind === "conflict") continue;
      update = outcome.update;
      if (outcome.kind === "failed") {
        result = { ok: false, error: outcome.error };
        break;
      }
      await updateState(store, flavor, {
        ...update,
        lastAttemptAt: attemptAt,
        lastCheckAt: attemptAt,
        lastError: null,
        ...(outcome.kind === "published" ? { publishedAt: attemptAt } : {}),
      });
      return { ok: true, changed: outcome.kind === "published", refs: outcome.refs };
    }
  } catch (err) {
    if (err instanceof StateUnreadable) {
      // Never overwrite a history we cannot read: stop publishing this flavor, loudly.
      log("error", "registry_state_unreadable", { flavor, error: err.message });
      return { ok: false, error: err.message };
    }
    result = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  log("warn", "registry_refresh_failed", { flavor, error: result.ok ? undefined : result.error });
  await updateState(store, flavor, { ...update, lastAttemptAt: attemptAt, lastError: result.ok ? null : result.error }).catch((err) =>
    log("error", "registry_state_write_failed", { flavor, error: String(err) }),
  );
  return result;
}
