/**
 * The fill coordinator: one Durable Object per resource (spec §6.3.2, E21), called over RPC with
 * the worker's parsed configuration. However many requests miss on a resource at once, its object
 * starts one upstream download and every requester streams from it (see SharedFill). It also holds
 * the resource's memory for the whole deployment rather than one isolate: which upstreams have it
 * (so a HEAD and the GET after it agree on the upstream and its Content-Length), that none has it,
 * which upstreams served bad bytes (kept in storage), and how many fills failed in a row.
 *
 * A fill does not depend on its requesters: a small one runs to the end if they all leave. While
 * it runs an alarm keeps the object awake and the key is recorded in storage, so a fill interrupted
 * by the object being evicted is started again by the alarm, at most FILL_MAX_ATTEMPTS times.
 */

import { DurableObject } from "cloudflare:workers";
import { parseResourcePath, type Resource } from "../routes/grammar";
import { parseRange } from "../routes/range";
import type { Config } from "../config";
import { RecentLookups } from "./recent";
import { fillFromUpstream, locate, oversize, type FillDeps, type FillOutcome, type Location } from "./fill";
import { SharedFill } from "./shared";
import { storeFor } from "../store/factory";
import type { Committed, Located, Streamed, Unavailable } from "./fills";
import { log } from "../log";

const KEEPALIVE_MS = 30_000;

type Started = { kind: "ok"; fill: SharedFill } | { kind: "not-found" } | { kind: "upstream-failed"; detail: string; retryAfterSeconds: number };

interface Pending {
  key: string;
  config: Config;
}

/** Consecutive failed fills of this key; reset by a commit. */
interface Attempts {
  count: number;
  lastAt: number;
}

export class FillCoordinator extends DurableObject<Env> {
  private fill: SharedFill | null = null;
  private readonly recent = new RecentLookups();
  private starting: Promise<Started> | null = null;
  private probing: Promise<Location> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Upstreams that served bad bytes for this key stay passed over when the object is evicted.
    void ctx.blockConcurrencyWhile(async () => {
      this.recent.restoreQuarantine((await ctx.storage.get<[string, number][]>("quarantine")) ?? []);
    });
  }

  /** Whether an upstream has the resource, and its length (a cold HEAD). */
  async locate(config: Config, key: string): Promise<Located> {
    const resource = resourceOf(key);
    if (this.fill && !this.fill.failed) return { found: true, length: this.fill.length };
    const location = await this.probe(this.deps(config), resource);
    if (location.kind === "absent") return { found: false, unavailable: false };
    if (location.kind === "unavailable") return { found: false, unavailable: true, ...outage(config, location.errors) };
    // A HEAD says what the GET will do: a key that would be refused is refused by both.
    const refused = this.refusal(config, resource, location.hits[0]!.length, await this.attempts());
    if (refused) return { found: false, unavailable: true, ...refused };
    return { found: true, length: location.hits[0]!.length };
  }

  /** The resource's bytes (a `Range` header is evaluated against the length the fill really has). */
  async stream(config: Config, key: string, rangeHeader: string | null): Promise<Streamed> {
    const started = await this.ensureFill(config, resourceOf(key));
    if (started.kind !== "ok") return started;
    const fill = started.fill;
    // A cold range holds back its end until the whole object is verified, so it keeps the fill going:
    // on objects too large to fill unattended, Range is ignored (RFC 9110 allows it) and the whole
    // object is streamed, so a client that asks for one byte and leaves lets the fill go.
    if (rangeHeader !== null && fill.length !== undefined && fill.length <= config.unattendedFillMaxBytes) {
      const range = parseRange(rangeHeader, fill.length);
      if (range.kind === "unsatisfiable") return { kind: "unsatisfiable", length: fill.length };
      if (range.kind === "partial") {
        return { kind: "streaming", length: fill.length, range: { start: range.start, end: range.end }, body: fill.subscribe(range.start, range.end) };
      }
    }
    return { kind: "streaming", length: fill.length, body: fill.subscribe(0) };
  }

  /** Fills the resource and waits for the outcome, without taking its bytes (registry tarballs). */
  async commit(config: Config, key: string): Promise<Committed> {
    const started = await this.ensureFill(config, resourceOf(key));
    if (started.kind === "not-found") return { committed: false, reason: "no upstream has it" };
    if (started.kind !== "ok") return { committed: false, reason: started.detail };
    const release = started.fill.attend();
    try {
      const outcome = await started.fill.outcome;
      return outcome.committed ? { committed: true } : { committed: false, reason: outcome.reason };
    } finally {
      release();
    }
  }

  /** Resolves once no fill is being started or running here (for tests and orderly shutdowns). */
  async idle(): Promise<void> {
    await this.starting?.catch(() => {});
    await this.fill?.outcome.catch(() => {});
  }

  /** Restarts a fill the object lost by being evicted, or keeps a running one's object awake. */
  override async alarm(): Promise<void> {
    const pending = await this.ctx.storage.get<Pending>("pending");
    if (!pending) return;
    const resource = parseResourcePath("/" + pending.key);
    if (!resource) return void (await this.ctx.storage.delete("pending"));
    if (!this.fill) {
      log("info", "fill_resumed", { key: pending.key });
      const started = await this.ensureFill(pending.config, resource);
      if (started.kind !== "ok") await this.ctx.storage.delete("pending");
      return;
    }
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS);
  }

  private deps(config: Config): FillDeps {
    return { config, store: storeFor(this.env, config), recent: this.recent, waitUntil: (p) => this.ctx.waitUntil(p) };
  }

  private async attempts(): Promise<Attempts> {
    return (await this.ctx.storage.get<Attempts>("attempts")) ?? { count: 0, lastAt: 0 };
  }

  /**
   * Why a key an upstream has is not filled now, or null: too large to verify within the Workers
   * CPU limit, or failed too often in a row (a fill that fails the same way every time — bad bytes
   * everywhere, an archive too large to verify, an object that ends this Durable Object — is
   * refused for a while, not restarted forever).
   */
  private refusal(config: Config, resource: Resource, length: number | undefined, attempts: Attempts): Unavailable | null {
    const tooLarge = oversize(config, length);
    if (tooLarge) {
      log("warn", "fill_too_large", { key: resource.key, length, limit: config.fillMaxBytes });
      return { detail: tooLarge, retryAfterSeconds: config.fillBackoffSeconds };
    }
    const backoffEnds = attempts.lastAt + config.fillBackoffSeconds * 1000;
    if (attempts.count >= config.fillMaxAttempts && Date.now() < backoffEnds) {
      const wait = Math.ceil((backoffEnds - Date.now()) / 1000);
      log("warn", "fill_backoff", { key: resource.key, attempts: attempts.count, retry_after_seconds: wait });
      return { detail: `${attempts.count} fills of ${resource.key} failed in a row; refused for ${wait} s more`, retryAfterSeconds: wait };
    }
    return null;
  }

  /** One probe at a time: concurrent cold requests for a key cost one HEAD per upstream. */
  private probe(deps: FillDeps, resource: Resource): Promise<Location> {
    this.probing ??= locate(deps, resource).finally(() => (this.probing = null));
    return this.probing;
  }

  /** The running fill for this resource, or a new one (a failed fill is never reused). */
  private ensureFill(config: Config, resource: Resource): Promise<Started> {
    if (this.fill && !this.fill.failed) return Promise.resolve({ kind: "ok", fill: this.fill });
    // Requests that arrive while a fill is being started join it instead of starting another.
    this.starting ??= this.startFill(config, resource).finally(() => (this.starting = null));
    return this.starting;
  }

  private async startFill(config: Config, resource: Resource): Promise<Started> {
    this.fill = null;
    const deps = this.deps(config);
    const location = await this.probe(deps, resource);
    if (location.kind === "absent") return { kind: "not-found" };
    if (location.kind === "unavailable") return { kind: "upstream-failed", ...outage(config, location.errors) };
    const attempts = await this.attempts();
    const refused = this.refusal(config, resource, location.hits[0]!.length, attempts);
    if (refused) return { kind: "upstream-failed", ...refused };
    await this.ctx.storage.put("attempts", { count: attempts.count + 1, lastAt: Date.now() } satisfies Attempts);

    let shared: SharedFill | undefined;
    let resolveOutcome!: (p: Promise<FillOutcome>) => void;
    const outcomePromise = new Promise<FillOutcome>((r) => (resolveOutcome = r));
    const options = {
      key: resource.key,
      windowBytes: config.fillWindowBytes,
      unattendedMaxBytes: config.unattendedFillMaxBytes,
      unattendedGraceMs: config.unattendedFillGraceSeconds * 1000,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      upstreamIdleTimeoutMs: config.upstreamIdleTimeoutMs,
    };
    const start = await fillFromUpstream(deps, resource, { tap: (tap) => (shared = new SharedFill(tap, options, deps.store, outcomePromise)).tap }, location);
    if (start.kind !== "streaming") {
      // Not a fill that failed: nothing was fetched. Give the attempt back.
      await this.ctx.storage.put("attempts", attempts);
      return start.kind === "not-found" ? start : { kind: "upstream-failed", ...outage(config, start.errors) };
    }
    resolveOutcome(start.outcome);
    const fill = shared!;
    this.fill = fill;
    await this.ctx.storage.put("pending", { key: resource.key, config } satisfies Pending);
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS);
    void start.outcome.then(async (outcome) => {
      await this.ctx.storage.delete("pending");
      await this.ctx.storage.deleteAlarm();
      if (outcome.committed) await this.ctx.storage.delete("attempts");
      else if (outcome.blame === "abandoned") await this.ctx.storage.put("attempts", attempts);
      await this.ctx.storage.put("quarantine", this.recent.quarantineEntries());
    });
    return { kind: "ok", fill };
  }
}

/** Upstreams that could not be asked: an outage, retried after the brief failure memory. */
function outage(config: Config, errors: string[]): Unavailable {
  return { detail: errors.join("; "), retryAfterSeconds: Math.max(1, config.failureTtlSeconds) };
}

function resourceOf(key: string): Resource {
  const resource = parseResourcePath("/" + key);
  if (!resource) throw new TypeError(`not a resource key: ${JSON.stringify(key)}`);
  return resource;
}
