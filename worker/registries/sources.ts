/**
 * What a registry refresh reads from the world and tells it: upstream lists, who holds a snapshot,
 * origins and their histories, how two stored snapshots compare by content, fills, and the prefetch hooks. The refresh sees only this interface, so the property
 * test can stand a simulated world in for the real one.
 */

import { parseRegistryCredentials, type RegistryConfig } from "../config";
import type { Flavor } from "../protocol/flavors";
import { parseRegistryList, parseResourcePath, registryPath, type RegistryRef } from "../protocol/paths";
import { getText, probeUpstreams } from "../upstream/upstream";
import type { RequestDeps } from "../runtime";
import { askOrigin, registryHosts, type OriginAnswer, type RegistryCredential } from "./origin";
import { readHistory, type HistoryRead } from "./history";
import { compareSnapshotsByContent, type ContentOrder } from "./content-order";

/** What a refresh reads from the world: upstream lists, who holds a snapshot, origins, and fills. */
export interface RegistrySources {
  upstreams: readonly string[];
  /** One upstream's list for a flavor, or why it could not be read. */
  listed(upstream: string, flavor: Flavor): Promise<RegistryRef[] | string>;
  /** Which of `upstreams` have this registry tarball. */
  holders(upstreams: string[], ref: RegistryRef): Promise<string[]>;
  origin(registry: RegistryConfig & { originTemplate: string }, hash: string): Promise<OriginAnswer>;
  /** The registry's recent history (tree hashes, newest first), or why it could not be read. */
  history(registry: RegistryConfig & { historyUrl: string }): Promise<HistoryRead>;
  /** How `candidate` relates to `published` by content; both are stored and verified. */
  contentOrder(published: RegistryRef, candidate: RegistryRef): Promise<ContentOrder>;
  /** Makes sure the tarball is committed (fetched and verified if need be): null, or why not. */
  store(ref: RegistryRef): Promise<string | null>;
  /** With PREFETCH_GATE: null once everything `ref` adds over `base` is in the bucket, else why it waits. */
  prefilled?(ref: RegistryRef, base: string | null): Promise<string | null>;
  /** `ref` was published in place of `base`: prefetch what it adds. */
  published?(ref: RegistryRef, base: string | null): Promise<void>;
}

/** The real world: upstream storage servers over HTTP, origins, and the resource's fill coordinator. */
export function upstreamSources(deps: RequestDeps): RegistrySources {
  const timeout = deps.config.upstreamTimeoutMs;
  // Checked against REGISTRIES when the configuration was parsed.
  const credentials = parseRegistryCredentials(
    deps.secrets.registryCredentials,
    deps.config.registries.map((r) => r.uuid),
  );
  const credentialOf = (registry: RegistryConfig): RegistryCredential | undefined => {
    const value = credentials.get(registry.uuid);
    return value === undefined ? undefined : { value, hosts: registryHosts(registry) };
  };
  return {
    upstreams: deps.config.upstreams,
    async listed(upstream, flavor) {
      // A flavourless upstream's `/registries` serves every flavor (protocol.md E7).
      let res = await getText(upstream, `/registries.${flavor}`, timeout);
      if (res.status === 404) res = await getText(upstream, "/registries", timeout);
      if (res.text === undefined) return `${upstream}: ${res.error ?? `status ${res.status}`}`;
      return parseRegistryList(res.text);
    },
    async holders(upstreams, ref) {
      const probe = await probeUpstreams(upstreams, registryPath(ref), timeout);
      return probe.found ? (await probe.all).map((h) => h.upstream) : [];
    },
    origin: (registry, hash) => askOrigin(registry, hash, timeout, deps.secrets.githubToken, credentialOf(registry)),
    history: (registry) => readHistory(registry.historyUrl, timeout, deps.secrets.githubToken, Date.now(), credentialOf(registry)),
    async contentOrder(published, candidate) {
      const key = (ref: RegistryRef) => parseResourcePath(registryPath(ref))!.key;
      const [a, b] = await Promise.all([deps.store.get(key(published)), deps.store.get(key(candidate))]);
      if (!a || !b) {
        await Promise.all([a?.body.cancel(), b?.body.cancel()]);
        return "unproven";
      }
      return compareSnapshotsByContent(a.body, b.body);
    },
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
