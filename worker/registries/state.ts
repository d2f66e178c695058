/**
 * Where registry lists and their bookkeeping live in the bucket. The lists sit at the protocol's
 * own keys (`registries.eager`), so the bucket stays a valid static storage server; bookkeeping
 * sits under `_pkgedge/`, which no Pkg client ever asks for.
 */

import type { Flavor } from "../routes/flavor";
import type { ObjectStore } from "../store/store";

export interface FlavorState {
  publishedAt?: string;
  lastCheckAt?: string;
  lastAttemptAt?: string;
  lastError?: string;
}

export function listKey(flavor: Flavor): string {
  return `registries.${flavor}`;
}

function stateKey(flavor: Flavor): string {
  return `_pkgedge/registries.${flavor}.json`;
}

export async function readState(store: ObjectStore, flavor: Flavor): Promise<FlavorState | null> {
  const obj = await store.get(stateKey(flavor));
  if (!obj) return null;
  try {
    return JSON.parse(await new Response(obj.body).text()) as FlavorState;
  } catch {
    return null;
  }
}

export async function writeState(store: ObjectStore, flavor: Flavor, state: FlavorState): Promise<void> {
  await store.putSmall(stateKey(flavor), JSON.stringify(state), { contentType: "application/json" });
}
