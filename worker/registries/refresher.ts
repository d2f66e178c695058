/** The one refresh of each flavor in flight in this isolate, and whether the next one is due. */

import type { Flavor } from "../protocol/flavors";
import type { RequestDeps } from "../runtime";
import { refreshFlavor, type RefreshResult } from "./refresh";
import { RefreshMemory } from "./memory";
import { upstreamSources } from "./sources";
import { readState } from "./state";

/**
 * Per isolate: when each flavor was last checked, and the refresh in flight (one at a time).
 * Whether a check is due is decided from this isolate's memory first, then from the last check
 * any isolate (or the cron trigger) recorded in the bucket, so a new isolate does not refresh on
 * its first request when another just did.
 */
export class RegistryRefresher {
  private readonly lastCheck = new Map<Flavor, number>();
  private readonly inFlight = new Map<Flavor, Promise<RefreshResult>>();
  private readonly memory = new RefreshMemory();

  refresh(deps: RequestDeps, flavor: Flavor): Promise<RefreshResult> {
    let running = this.inFlight.get(flavor);
    if (!running) {
      this.lastCheck.set(flavor, Date.now());
      running = refreshFlavor(deps.store, upstreamSources(deps), deps.config, flavor, this.memory).finally(() =>
        this.inFlight.delete(flavor),
      );
      this.inFlight.set(flavor, running);
    }
    return running;
  }

  async isDue(deps: RequestDeps, flavor: Flavor): Promise<boolean> {
    const ttl = deps.config.registryTtlSeconds * 1000;
    const fresh = (at: number | undefined) => at !== undefined && Date.now() - at < ttl;
    if (this.inFlight.has(flavor) || fresh(this.lastCheck.get(flavor))) return false;
    // A damaged state cannot say; the refresh then reports it (and publishes nothing).
    const state = await readState(deps.store, flavor).catch(() => null);
    const shared = Date.parse(state?.lastCheckAt ?? "");
    if (fresh(Number.isNaN(shared) ? undefined : shared)) {
      this.lastCheck.set(flavor, shared);
      return false;
    }
    return true;
  }
}
