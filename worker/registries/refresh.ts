/**
 * Refreshing a flavor's registry list from upstream (spec §5.2): read what every upstream
 * advertises, cross-check the hashes, take the newest snapshot whose tarball we could fetch,
 * verify and commit, and only then publish the new list in one write. A registry is never
 * advertised before its tarball is in the bucket.
 */

import type { Flavor } from "../routes/flavor";
import { formatRegistryList, parseRegistryList, parseResourcePath, registryPath, type RegistryRef } from "../routes/grammar";
import { getText, probeUpstreams } from "../upstream/upstream";
import { fillFromUpstream, type FillDeps } from "../fill/fill";
import { collectSightings, newestFirst } from "./order";
import { listKey, readState, writeState, type FlavorState } from "./state";
import { log } from "../log";

export type RefreshResult = { ok: true; changed: boolean; refs: RegistryRef[] } | { ok: false; error: string };

/** Reads one upstream's list for a flavor; a flavourless upstream's `/registries` serves every flavor (spec E7). */
async function advertisedBy(deps: FillDeps, upstream: string, flavor: Flavor): Promise<RegistryRef[] | string> {
  const timeout = deps.config.upstreamTimeoutMs;
  let res = await getText(upstream, `/registries.${flavor}`, timeout);
  if (res.status === 404) res = await getText(upstream, "/registries", timeout);
  if (res.text === undefined) return `${upstream}: ${res.error ?? `status ${res.status}`}`;
  return parseRegistryList(res.text);
}

/** Makes sure a registry tarball is committed to the bucket, filling it from upstream if needed. */
async function ensureStored(deps: FillDeps, ref: RegistryRef): Promise<string | null> {
  const resource = parseResourcePath(registryPath(ref))!;
  if (await deps.store.head(resource.key)) return null;
  const fill = await fillFromUpstream(deps, resource, { clientCopy: false });
  if (fill.kind === "not-found") return "no upstream has it";
  if (fill.kind === "upstream-failed") return fill.errors.join("; ");
  const outcome = await fill.outcome;
  return outcome.committed ? null : outcome.reason;
}

export async function refreshFlavor(deps: FillDeps, flavor: Flavor): Promise<RefreshResult> {
  const attemptAt = new Date().toISOString();
  const state: FlavorState = (await readState(deps.store, flavor)) ?? {};
  state.lastAttemptAt = attemptAt;
  try {
    const result = await refreshFlavorOnce(deps, flavor);
    if (result.ok) {
      state.lastCheckAt = attemptAt;
      state.lastError = undefined;
      if (result.changed) state.publishedAt = attemptAt;
    } else {
      state.lastError = result.error;
      log("warn", "registry_refresh_failed", { flavor, error: result.error });
    }
    await writeState(deps.store, flavor, state);
    return result;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log("error", "registry_refresh_crashed", { flavor, error });
    return { ok: false, error };
  }
}

async function refreshFlavorOnce(deps: FillDeps, flavor: Flavor): Promise<RefreshResult> {
  const upstreams = deps.config.upstreams;
  const answers = await Promise.all(upstreams.map((u) => advertisedBy(deps, u, flavor)));
  const lists = new Map<string, RegistryRef[]>();
  const errors: string[] = [];
  answers.forEach((a, i) => (typeof a === "string" ? errors.push(a) : lists.set(upstreams[i]!, a)));
  if (lists.size === 0) return { ok: false, error: errors.join("; ") || "no upstream answered" };

  const chosen: RegistryRef[] = [];
  for (const [uuid, sightings] of collectSightings(lists)) {
    // Cross-check: an upstream that advertised this registry but not this hash may still have it.
    const advertisers = new Set([...sightings.values()].flatMap((s) => [...s]));
    await Promise.all(
      [...sightings].map(async ([hash, seen]) => {
        const others = [...advertisers].filter((u) => !seen.has(u));
        if (others.length === 0) return;
        const probe = await probeUpstreams(others, registryPath({ uuid, treeHash: hash }), deps.config.upstreamTimeoutMs);
        if (probe.found) for (const hit of probe.hits) seen.add(hit.upstream);
      }),
    );
    for (const hash of newestFirst(sightings)) {
      const failure = await ensureStored(deps, { uuid, treeHash: hash });
      if (failure === null) {
        chosen.push({ uuid, treeHash: hash });
        break;
      }
      log("warn", "registry_candidate_unusable", { flavor, uuid, hash, reason: failure });
    }
  }
  if (chosen.length === 0) return { ok: false, error: "no advertised registry could be fetched and verified" };

  const body = formatRegistryList(chosen);
  const current = await deps.store.get(listKey(flavor));
  const currentBody = current ? await new Response(current.body).text() : null;
  if (currentBody === body) return { ok: true, changed: false, refs: chosen };
  await deps.store.putSmall(listKey(flavor), body, { contentType: "text/plain" });
  log("info", "registry_published", { flavor, lines: body.trim().split("\n") });
  return { ok: true, changed: true, refs: chosen };
}
