/**
 * Refreshing a flavor's registry list from upstream (protocol.md §5.2): read what every upstream lists,
 * and take the newest listed snapshot that is proven newer than the published one (by the registry's
 * history, else by content), that its origin confirms (or, when the origin cannot be asked, that a
 * quorum of upstreams has), and that pkgedge could fetch, verify and commit; then record what it
 * replaces and publish the new list in one compare-and-swap write. Only registries in REGISTRIES are
 * published.
 *
 * This file runs a round. The seams: the world is sources.ts (with history-cache.ts for what the
 * history taught earlier rounds), the decision choice.ts (pure, driven by tests directly), whether a
 * candidate is trusted trust.ts, and the write publish.ts.
 */

import type { Config, RegistryConfig } from "../config";
import type { Flavor } from "../protocol/flavors";
import { formatRegistryList, parseRegistryList, registryPath, type RegistryRef } from "../protocol/paths";
import type { ObjectStore } from "../store/store";
import { observe, type Observation } from "./order";
import { decide, type Choice, type HistoryOrder, type Known, type Verdict } from "./choice";
import { historyFor, type HistoryView } from "./history-cache";
import type { ContentOrder } from "./content-order";
import type { RefreshMemory } from "./memory";
import { publish, publishedElsewhere } from "./publish";
import type { RegistrySources } from "./sources";
import { listKey, readState, StateUnreadable, updateState, type FlavorState, type RegistryReport } from "./state";
import { trust } from "./trust";
import { log } from "../log";

export type RefreshResult = { ok: true; changed: boolean; refs: RegistryRef[] } | { ok: false; error: string };

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

/** What checking one registry's candidates needs, and where it records what it learns. */
interface Checking {
  store: ObjectStore;
  sources: RegistrySources;
  flavor: Flavor;
  registry: RegistryConfig;
  obs: Observation;
  state: FlavorState | null;
  memory: RefreshMemory;
  report: RegistryReport;
  update: FlavorState;
  /** The hash published now, if any (what the gate compares a candidate with). */
  current: string | undefined;
  storeFailures: string[];
}

/**
 * A candidate's checks, cheapest first: recent failures, trust, a verified fill, the content order
 * when the decision needs it (the history could not order the candidate), then the prefetch gate.
 */
async function check(c: Checking, hash: string, compare: boolean, against = c.current): Promise<Verdict> {
  const { flavor, registry, memory, update } = c;
  const { uuid } = registry;
  // Answers from memory cost nothing, and do not count against the round's candidates.
  if (memory.couldNotStore(hash))
    return { ok: false, reason: "could not be stored in the last ten minutes", filled: false, recalled: true };
  if (memory.saidNo(hash))
    return { ok: false, reason: "its origin does not know it (asked within the hour)", filled: false, recalled: true };
  const trusted = await trust(c.sources, registry, c.obs, hash, c.state, memory, c.report);
  if (!trusted.ok) {
    log("warn", "registry_candidate_untrusted", { flavor, uuid, hash, reason: trusted.reason });
    return { ok: false, reason: trusted.reason, filled: false };
  }
  if (trusted.by === "origin") update.confirmed![uuid] = [...(update.confirmed![uuid] ?? []), hash];
  const failure = await c.sources.store({ uuid, treeHash: hash });
  if (failure !== null) {
    memory.rememberUnstorable(hash);
    log("warn", "registry_candidate_unusable", { flavor, uuid, hash, reason: failure });
    c.storeFailures.push(`${registryPath({ uuid, treeHash: hash })}: ${failure}`);
    return { ok: false, reason: `could not be stored: ${failure}`, filled: true };
  }
  let content: ContentOrder | undefined;
  let recalled = false;
  if (compare && against !== undefined) {
    content = memory.contentOrder(against, hash);
    recalled = content !== undefined;
    if (content === undefined) {
      content = await c.sources.contentOrder({ uuid, treeHash: against }, { uuid, treeHash: hash });
      memory.rememberContentOrder(against, hash, content);
    }
    // Not an advance: the gate has nothing to wait for.
    if (content !== "newer") return { ok: true, by: trusted.by, content, recalled };
  }
  // The gate (PREFETCH_GATE): conservative clients get a snapshot once all it adds is here.
  const waiting =
    flavor === "conservative" && c.sources.prefilled
      ? await c.sources.prefilled({ uuid, treeHash: hash }, c.current ?? (await publishedElsewhere(c.store, flavor, uuid, hash)))
      : null;
  if (waiting !== null) return { ok: false, reason: waiting, filled: true };
  return { ok: true, by: trusted.by, ...(content !== undefined ? { content, recalled } : {}) };
}

/** The registry's decision, its candidates checked one at a time as it asks for them. */
async function choose(c: Checking, known: Known, history: HistoryOrder): Promise<Choice> {
  const verdicts = new Map<string, Verdict>();
  for (;;) {
    const step = decide(c.obs, known, history, verdicts);
    if (step.kind === "chosen") return step;
    verdicts.set(step.hash, await check(c, step.hash, step.compare, step.against ?? c.current));
  }
}

/** What /meta says of the history and of the published hash's place in it. */
function historyReport(view: HistoryView, hash: string | undefined): Partial<RegistryReport> {
  const position = hash === undefined ? undefined : view.positions.get(hash);
  return {
    position: position ?? null,
    historyReadAt: view.cache.readAt ?? null,
    historyFailures: view.cache.failures ?? 0,
    lastHistoryError: view.cache.lastError ?? null,
  };
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
    const report: RegistryReport = { refused: [], capped: null };
    update.registries![uuid] = report;
    const known: Known = { published: current, superseded: new Set(state?.superseded?.[uuid] ?? []) };
    // The history is asked only when a listed hash could replace the published one (not one the
    // origin denies; a replaced one too, which the registry may have restored by a revert) and is
    // not ordered yet: then about it and the published hash.
    const asked = [...obs.hashes].filter(([h, s]) => h !== current && s.listers.size > 0 && !memory.saidNo(h)).map(([h]) => h);
    const ordering = current === undefined || asked.length === 0 ? asked : [current, ...asked];
    const history = await historyFor(store, sources, registry, ordering, memory, now);
    const checking = { store, sources, flavor, registry, obs, state, memory, report, update, current, storeFailures };
    const choice = await choose(checking, known, history);
    if (choice.backwards) log("warn", "registry_upstream_backwards", { flavor, uuid, published: current ?? null, refused: choice.refused });
    if (choice.capped !== null) log("warn", "registry_round_capped", { flavor, uuid, cap: choice.capped, left: choice.left });
    if (choice.refused.length > 0) log("info", "registry_candidates_refused", { flavor, uuid, refused: choice.refused });
    Object.assign(report, { refused: choice.refused, capped: choice.capped }, historyReport(history, choice.hash));
    if (choice.confirmedBy && choice.hash !== undefined) {
      chosen.set(uuid, choice.hash);
      Object.assign(report, { hash: choice.hash, confirmedBy: choice.confirmedBy, proof: choice.proof });
    } else if (current !== undefined) {
      // Still the published hash: how it was trusted and proven stays what it was.
      const before = state?.registries?.[uuid];
      Object.assign(report, { hash: current }, before?.hash === current ? { confirmedBy: before.confirmedBy, proof: before.proof } : {});
    }
  }

  const refs = [...chosen].map(([uuid, treeHash]) => ({ uuid, treeHash }));
  const couldNot = `no advertised registry could be fetched and verified: ${storeFailures.join("; ")}`;
  if (refs.length === 0)
    return { kind: "failed", error: storeFailures.length > 0 ? couldNot : "no upstream lists a registry in REGISTRIES", update };
  const body = formatRegistryList(refs);
  if (body === currentBody)
    return storeFailures.length > 0 ? { kind: "failed", error: couldNot, update } : { kind: "unchanged", refs, update };
  const written = await publish(store, sources, { flavor, published, chosen, body, replacesEtag: stored?.etag ?? null, update, now });
  return written ? { kind: "published", refs, update } : { kind: "conflict" };
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
