/**
 * Continuing a fill whose upstream broke mid-body (design.md, "Resume instead of breaking"). A
 * reset, a body that ends short, a silent or dribbling upstream would otherwise break every
 * requester's transfer, and Pkg does not retry a package download (protocol.md §8). So the rest is
 * asked with a ranged GET of the next upstream that may have the object, or of the same one after
 * a short pause, up to FILL_MAX_RESUMPTIONS ranged GETs per fill; the watched body (watchdog.ts)
 * carries on with the new source and nobody downstream sees the break.
 *
 * The final check still decides. The bytes do not say whose were wrong, so when the check fails
 * the key's next fill is not continued (pass-over.ts): one upstream's whole body then says whose were.
 */

import type { Config } from "../config";
import { getFrom } from "../upstream/ranged";
import type { UpstreamBody } from "../upstream/upstream";
import type { Continued } from "../streams/watchdog";
import type { FillTarget } from "./target";
import type { RecentLookups } from "./recent";
import { log } from "../log";

/** How long the same upstream is given before it is asked again for the rest. */
const RESUME_PAUSE_MS = 1000;

export interface Continuation {
  /** The rest of the body from `offset`, or null once no upstream gave it within the budget. */
  resume(offset: number, why: Error): Promise<Continued | null>;
  /** Every upstream that supplied bytes of this fill, the first included. */
  suppliers(): string[];
  /** The upstream the body comes from now. */
  source(): string;
  /** Whether the continuation stopped because the object changed under its name (a binary-mirror file replaced). */
  changed(): boolean;
}

/**
 * How a fill from `first` continues, or undefined when it cannot: its length is unknown (nothing
 * to say a body ended short, nor to check a range against), resumption is off, or it is a
 * binary-mirror file without a strong ETag (it may change under its name: only the same version
 * may continue it, If-Range), or the key's last continued fill failed its check (recent.ts
 * `fillWhole`). `candidates`: the upstreams whose HEAD said they have it, best first, once every
 * HEAD answered; without them (a binary-mirror file, found by a GET) the target's upstreams.
 */
export function continuation(
  deps: { config: Config; recent: RecentLookups },
  target: FillTarget,
  first: UpstreamBody,
  candidates?: Promise<readonly string[]>,
): Continuation | undefined {
  const { config, recent } = deps;
  const length = first.length;
  if (length === undefined || config.fillMaxResumptions === 0 || !recent.mayContinue(target.key)) return undefined;
  const ifRange = target.spec.kind === "mirror" ? strongEtag(first.headers.etag) : undefined;
  if (target.spec.kind === "mirror" && ifRange === undefined) return undefined;
  // Upstreams whose HEAD said 404 are not asked: each ranged GET spends the budget.
  const order = (candidates ?? Promise.resolve(target.upstreams)).then((known) => [...new Set([first.upstream, ...known])]);
  const suppliers = new Set([first.upstream]);
  let source = first.upstream;
  let current = first.upstream;
  let changed = false;
  let asked = 0;

  return {
    suppliers: () => [...suppliers],
    source: () => source,
    changed: () => changed,
    async resume(offset, why) {
      while (asked < config.fillMaxResumptions && !changed) {
        asked++;
        const upstream = nextSource(await order, current, (u) => recent.isQuarantined(target.key, u));
        if (upstream === current) await new Promise((r) => setTimeout(r, RESUME_PAUSE_MS));
        const got = await getFrom(upstream, target.path, offset, config.upstreamTimeoutMs, { length, ifRange });
        current = upstream;
        if (got.ok) {
          log("info", "fill_continued", { key: target.key, upstream, offset, length, after: why.message });
          suppliers.add(upstream);
          source = upstream;
          return { body: got.body, skip: got.skip, what: `upstream ${upstream}` };
        }
        log("warn", "fill_continue_failed", { key: target.key, upstream, offset, error: got.error });
        // Another version cannot continue this one, from any upstream.
        if (got.changed) changed = true;
      }
      return null;
    },
  };
}

/** The upstream after `current` in `order` that is not passed over, going round; `current` when there is none. */
export function nextSource(order: readonly string[], current: string, passedOver: (upstream: string) => boolean): string {
  const at = order.indexOf(current);
  for (let step = 1; step < order.length; step++) {
    const upstream = order[(at + step) % order.length]!;
    if (!passedOver(upstream)) return upstream;
  }
  return current;
}

/** A strong ETag (If-Range takes no weak one), or undefined. */
function strongEtag(etag: string | undefined): string | undefined {
  return etag && /^"[^"]*"$/.test(etag) ? etag : undefined;
}
