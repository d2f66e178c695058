/**
 * Refreshing a flavor's registry list from upstream (spec §5.2): read what every upstream
 * advertises, cross-check the hashes, and take the newest snapshot that pkgedge has not already
 * moved past and whose tarball it could fetch, verify and commit; only then publish the new list,
 * in one compare-and-swap write. A registry is never advertised before its tarball is in the
 * bucket, the list never goes backwards, and when every upstream fails the published list stays.
 */

import type { Flavor } from "../routes/flavor";
import { formatRegistryList, parseRegistryList, parseResourcePath, registryPath, type RegistryRef } from "../routes/grammar";
import { getText, probeUpstreams } from "../upstream/upstream";
import type { MirrorDeps } from "../runtime";
import { chooseCandidates, collectSightings, type Sightings } from "./order";
import { listKey, readState, updateState } from "./state";
import { log } from "../log";

export type RefreshResult = { ok: true; changed: boolean; refs: RegistryRef[] } | { ok: false; error: string };

type Round =
  | { kind: "unchanged"; refs: RegistryRef[] }
  | { kind: "published"; refs: RegistryRef[]; replaced: RegistryRef[] }
  | { kind: "conflict" }
  | { kind: "failed"; error: string };

/** Reads one upstream's list for a flavor; a flavourless upstream's `/registries` serves every flavor (spec E7). */
async function advertisedBy(deps: MirrorDeps, upstream: string, flavor: Flavor): Promise<RegistryRef[] | string> {
  const timeout = deps.config.upstreamTimeoutMs;
  let res = await getText(upstream, `/registries.${flavor}`, timeout);
  if (res.status === 404) res = await getText(upstream, "/registries", timeout);
  if (res.text === undefined) return `${upstream}: ${res.error ?? `status ${res.status}`}`;
  return parseRegistryList(res.text);
}

/** Makes sure a registry tarball is committed to the bucket, filling (and verifying) it if needed. */
async function ensureStored(deps: MirrorDeps, ref: RegistryRef): Promise<string | null> {
  const resource = parseResourcePath(registryPath(ref))!;
  if (await deps.store.head(resource.key)) return null;
  const outcome = await deps.fills.commit(resource);
  return outcome.committed ? null : outcome.reason;
}

/** Cross-check: an upstream that advertised this registry but not this hash may still have it. */
async function crossCheck(deps: MirrorDeps, uuid: string, sightings: Sightings): Promise<void> {
  const advertisers = new Set([...sightings.values()].flatMap((s) => [...s]));
  await Promise.all(
    [...sightings].map(async ([hash, seen]) => {
      const others = [...advertisers].filter((u) => !seen.has(u));
      if (others.length === 0) return;
      const probe = await probeUpstreams(others, registryPath({ uuid, treeHash: hash }), deps.config.upstreamTimeoutMs);
      if (probe.found) for (const hit of await probe.all) seen.add(hit.upstream);
    }),
  );
}

async function refreshRound(deps: MirrorDeps, flavor: Flavor): Promise<Round> {
  const [stored, state] = await Promise.all([deps.store.get(listKey(flavor)), readState(deps.store, flavor)]);
  const currentBody = stored ? await new Response(stored.body).text() : null;
  const published = new Map((currentBody ? parseRegistryList(currentBody) : []).map((r) => [r.uuid, r.treeHash]));

  const upstreams = deps.config.upstreams;
  const answers = await Promise.all(upstreams.map((u) => advertisedBy(deps, u, flavor)));
  const lists = new Map<string, RegistryRef[]>();
  const errors: string[] = [];
  answers.forEach((a, i) => (typeof a === "string" ? errors.push(a) : lists.set(upstreams[i]!, a)));
  if (lists.size === 0) return { kind: "failed", error: errors.join("; ") || "no upstream answered" };

  const chosen = new Map<string, string>();
  const failures: string[] = [];
  for (const [uuid, sightings] of collectSightings(lists)) {
    const advertised = new Set(sightings.keys());
    // The published hash takes part in the ordering too, with how many upstreams still have it.
    const current = published.get(uuid);
    if (current !== undefined && !sightings.has(current)) sightings.set(current, new Set());
    await crossCheck(deps, uuid, sightings);
    if (current !== undefined && sightings.get(current)?.size === 0) sightings.delete(current); // nobody has it: says nothing
    const superseded = new Set(state?.superseded?.[uuid] ?? []);
    const choice = chooseCandidates(sightings, current, superseded, advertised);
    if (choice.consensusBackwards) {
      log("warn", "registry_upstream_backwards", { flavor, uuid, published: current ?? null, advertised: [...advertised] });
    }
    for (const hash of choice.candidates) {
      if (hash === current) break; // nothing newer could be stored: keep what is published
      const failure = await ensureStored(deps, { uuid, treeHash: hash });
      if (failure === null) {
        chosen.set(uuid, hash);
        break;
      }
      log("warn", "registry_candidate_unusable", { flavor, uuid, hash, reason: failure });
      failures.push(`${registryPath({ uuid, treeHash: hash })}: ${failure}`);
    }
  }
  // Whatever was not replaced stays published (including registries no upstream lists right now).
  for (const [uuid, hash] of published) if (!chosen.has(uuid)) chosen.set(uuid, hash);
  const refs = [...chosen].map(([uuid, treeHash]) => ({ uuid, treeHash }));
  const couldNot = `no advertised registry could be fetched and verified: ${failures.join("; ")}`;
  if (refs.length === 0) return { kind: "failed", error: couldNot };

  const body = formatRegistryList(refs);
  // Nothing newer could be stored although upstreams advertise it: the list stands, but say so.
  if (body === currentBody) return failures.length > 0 ? { kind: "failed", error: couldNot } : { kind: "unchanged", refs };
  // Compare-and-swap: if another refresh published since we read the list, decide again from its list.
  const written = await deps.store.putSmall(listKey(flavor), body, { contentType: "text/plain", onlyIfEtag: stored?.etag ?? null });
  if (!written) return { kind: "conflict" };
  const replaced = [...published].filter(([uuid, hash]) => chosen.get(uuid) !== hash).map(([uuid, treeHash]) => ({ uuid, treeHash }));
  log("info", "registry_published", { flavor, lines: body.trimEnd().split("\n"), replaced: replaced.map(registryPath) });
  return { kind: "published", refs, replaced };
}

export async function refreshFlavor(deps: MirrorDeps, flavor: Flavor): Promise<RefreshResult> {
  const attemptAt = new Date().toISOString();
  let result: RefreshResult = { ok: false, error: "too many concurrent refreshes" };
  try {
    for (let round = 0; round < 3; round++) {
      const outcome = await refreshRound(deps, flavor);
      if (outcome.kind === "conflict") continue;
      if (outcome.kind === "failed") {
        result = { ok: false, error: outcome.error };
        break;
      }
      const superseded: Record<string, string[]> = {};
      if (outcome.kind === "published") for (const r of outcome.replaced) (superseded[r.uuid] ??= []).push(r.treeHash);
      await updateState(deps.store, flavor, {
        lastAttemptAt: attemptAt,
        lastCheckAt: attemptAt,
        lastError: null,
        ...(outcome.kind === "published" ? { publishedAt: attemptAt, superseded } : {}),
      });
      return { ok: true, changed: outcome.kind === "published", refs: outcome.refs };
    }
  } catch (err) {
    result = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  log("warn", "registry_refresh_failed", { flavor, error: result.ok ? undefined : result.error });
  await updateState(deps.store, flavor, { lastAttemptAt: attemptAt, lastError: result.ok ? null : result.error }).catch((err) =>
    log("error", "registry_state_write_failed", { flavor, error: String(err) }),
  );
  return result;
}
