/**
 * Whether a snapshot pkgedge has not published may be: its origin is the authority; a quorum of
 * upstreams stands in when there is no origin, or it cannot be asked.
 */

import type { RegistryConfig } from "../config";
import { quorumHolds, type Observation } from "./order";
import type { RefreshMemory } from "./memory";
import type { RegistrySources } from "./sources";
import type { FlavorState, RegistryReport } from "./state";
import { log } from "../log";

export type Trust = { ok: true; by: "origin" | "quorum" } | { ok: false; reason: string };

/** The origin is the authority for a hash pkgedge has not published; a quorum stands in when it cannot be asked. */
export async function trust(
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
