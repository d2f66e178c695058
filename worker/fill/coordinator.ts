/**
 * The fill coordinator: one Durable Object per resource (protocol.md §6.3.2, E21), called over RPC with
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
import { parseConfig, type Config } from "../config";
import { resumedFill } from "./resume";
import { tidyStorage, type Checked, type Pending } from "./records";
import { begun, countAfter, NO_ATTEMPTS, settledAs, type Attempts } from "./attempts";
import { RecentLookups } from "./recent";
import type { FillDeps, FillOutcome } from "./fill";
import { locate, outage, type Location } from "./locate";
import { SharedFill } from "./shared/shared-fill";
import { requesterStream } from "./shared/requester";
import { refusal, sharedFillOptions, targetFor, type FillSpec, type FillTarget, type NoFill } from "./target";
import { freshUntil, isFresh } from "../mirror/freshness";
import { storeFor } from "../store/factory";
import type { Validators } from "../upstream/upstream";
import { copyKept, removeCopy } from "./revalidation";
import { lifetimeOf } from "./coordinator-calls";
import type { Committed, HeldCopy, Located, Revalidated, Streamed, Verified } from "./coordinator-calls";
import { commitTrying, verifyFirst, waitedFillConfig } from "./verify-first";
import { log, useLogFormat } from "../log";
import { useUpstreamCredentialsOf } from "../upstream/credentials";
import { VariantMaker, type Transcoded } from "../variants/zstd-variant";

const KEEPALIVE_MS = 30_000;

type Started = NoFill | { kind: "ok"; fill: SharedFill };

export class FillCoordinator extends DurableObject<Env> {
  private fill: SharedFill | null = null;
  private readonly recent = new RecentLookups();
  private starting: Promise<Started> | null = null;
  private probing: Promise<Location> | null = null;
  private revalidating: Promise<Started | { kind: "fresh"; until: number }> | null = null;
  private readonly variants = new VariantMaker();
  /** The bookkeeping of the last fill that settled (its storage records), so the next fill starts after it. */
  private settling: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // This object fetches from upstreams in its own isolate: it needs the deployment's credentials
    // there (a worker isolate it shares installs the same ones, so only set ones are installed).
    if (env.UPSTREAM_CREDENTIALS) {
      try {
        useUpstreamCredentialsOf(parseConfig({ ...env } as Record<string, unknown>), env.UPSTREAM_CREDENTIALS);
      } catch {
        // A configuration that does not parse fills nothing: the worker answers every request with why.
      }
    }
    // Upstreams that served bad bytes for this key stay passed over when the object is evicted.
    void ctx.blockConcurrencyWhile(async () => {
      this.recent.restoreQuarantine((await ctx.storage.get<[string, number][]>("quarantine")) ?? []);
    });
  }

  /** Whether an upstream has the resource, and its length (a cold HEAD). */
  async locate(config: Config, spec: FillSpec): Promise<Located> {
    const target = targetFor(config, spec);
    if (this.fill && !this.fill.failed) return { found: true, length: this.fill.length };
    const location = await this.probe(this.deps(config), target);
    if (location.kind === "absent") return { found: false, unavailable: false };
    if (location.kind === "unavailable") return { found: false, unavailable: true, ...outage(config, location.errors) };
    // A HEAD says what the GET will do: a key that would be refused is refused by both.
    const refused = refusal(config, target, location.hits[0]!.length, await this.attempts());
    if (refused) return { found: false, unavailable: true, ...refused };
    return { found: true, length: location.hits[0]!.length };
  }

  /** The resource's bytes (a `Range` header is evaluated against the length the fill really has). */
  async stream(config: Config, spec: FillSpec, rangeHeader: string | null): Promise<Streamed> {
    const joined = this.running();
    const started = await this.ensureFill(config, targetFor(config, spec));
    // A revalidation that was starting found the bucket's copy current: the caller reads it there.
    if (started.kind === "not-modified") return { kind: "in-bucket" };
    if (started.kind !== "ok") return started;
    return requesterStream(started.fill, rangeHeader, joined, config.unattendedFillMaxBytes);
  }

  /**
   * The whole object, answered only once a fill verified and stored it, trying the next upstream
   * when one's bytes fail (verify-first.ts); streamed as `stream` does when the wait runs out.
   */
  async streamVerified(config: Config, spec: FillSpec): Promise<Verified> {
    const target = targetFor(config, spec);
    return verifyFirst({
      policy: config.verifyFirst,
      upstreamCount: target.upstreams.length,
      ensureFill: () => this.nextFill(waitedFillConfig(config), target),
      stream: (fill, joinedNow) => requesterStream(fill, null, joinedNow, config.unattendedFillMaxBytes),
      outage: (reason) => ({ kind: "upstream-failed", ...outage(config, [reason]) }),
    });
  }

  /**
   * A binary-mirror copy the worker holds has outlived its lifetime: asks the upstream whether it is
   * still current (once, however many requests ask at once), and says so, or streams the new body
   * that replaces it, or says the upstream could not be asked (the copy is then served stale).
   */
  async revalidate(config: Config, spec: FillSpec, held: HeldCopy, rangeHeader: string | null): Promise<Revalidated> {
    const target = targetFor(config, spec);
    if (this.fill && !this.fill.failed && !this.fill.committed)
      return requesterStream(this.fill, rangeHeader, true, config.unattendedFillMaxBytes);
    const checked = await this.ctx.storage.get<Checked>("checked");
    const checkedUntil = checked?.bucketEtag === held.bucketEtag ? freshUntil(checked.at, lifetimeOf(held)) : 0;
    if (isFresh(checkedUntil, Date.now())) return { kind: "fresh", until: checkedUntil };
    const joined = this.revalidating !== null;
    this.revalidating ??= this.askUpstream(config, target, held).finally(() => (this.revalidating = null));
    const result = await this.revalidating;
    if (result.kind === "fresh") return result;
    if (result.kind === "ok") return requesterStream(result.fill, rangeHeader, joined, config.unattendedFillMaxBytes);
    if (result.kind === "upstream-failed") return { kind: "stale", detail: result.detail };
    if (result.kind === "not-modified") return { kind: "fresh", until: freshUntil(Date.now(), lifetimeOf(held)) };
    return result;
  }

  /**
   * A binary-mirror copy the worker holds is not what versions.json now lists: fetches the file
   * again (unconditionally, once however many requests ask) and streams it through the check
   * against the listing; only bytes that pass replace the copy.
   */
  async refill(config: Config, spec: FillSpec, rangeHeader: string | null): Promise<Streamed> {
    const target = targetFor(config, spec);
    if (this.fill && !this.fill.failed && !this.fill.committed)
      return requesterStream(this.fill, rangeHeader, true, config.unattendedFillMaxBytes);
    if (this.fill?.committed) this.fill = null; // it filled the copy that disagrees
    const joined = this.starting !== null;
    const started = await this.ensureFill(config, target);
    if (started.kind === "not-modified") return { kind: "in-bucket" };
    if (started.kind !== "ok") return started;
    log("info", "mirror_refill_started", { key: target.key });
    return requesterStream(started.fill, rangeHeader, joined, config.unattendedFillMaxBytes);
  }

  private async askUpstream(config: Config, target: FillTarget, held: HeldCopy): Promise<Started | { kind: "fresh"; until: number }> {
    if (this.fill?.committed) this.fill = null; // a finished fill is an older answer than the one asked for now
    const started = await this.ensureFill(config, target, held.validators);
    if (started.kind === "not-modified") {
      const at = Date.now();
      const expires = freshUntil(at, lifetimeOf(held));
      await this.ctx.storage.put("checked", { bucketEtag: held.bucketEtag, at, expires } satisfies Checked);
      await this.tidy();
      log("info", "mirror_revalidated", { key: target.key, current: true });
      return { kind: "fresh", until: expires };
    }
    if (started.kind === "not-found" && !target.answerRemovesCopy(started.status ?? 404))
      return copyKept(config, target, started.status ?? 0);
    if (started.kind === "not-found") {
      await removeCopy(storeFor(this.env, config), target.key, started.status);
      this.fill = null;
    }
    if (started.kind === "ok") log("info", "mirror_revalidated", { key: target.key, current: false });
    return started;
  }

  /**
   * Fills the resource and waits for the outcome, without taking its bytes (registry tarballs). A
   * fill that failed on an upstream's bytes or pace passed that upstream over: the next is tried.
   */
  async commit(config: Config, spec: FillSpec): Promise<Committed> {
    const target = targetFor(config, spec);
    return commitTrying(target.upstreams.length, () => this.nextFill(config, target));
  }

  /** Makes the resource's zstd variant from its gzip copy, once a running fill has ended (variants/). */
  async transcode(config: Config, spec: FillSpec): Promise<Transcoded> {
    await this.fill?.outcome.catch(() => {});
    const made = await this.variants.make(storeFor(this.env, config), config, spec, this.ctx.storage);
    await this.tidy(); // a record of giving up expires (records.ts)
    return made;
  }

  /** Resolves once no fill is being started or running here (for tests and orderly shutdowns). */
  async idle(): Promise<void> {
    await this.starting?.catch(() => {});
    await this.fill?.outcome.catch(() => {});
  }

  /**
   * Restarts a fill the object lost by being evicted, or keeps a running one's object awake. A
   * lost fill resumes only from the upstreams (or mirror base) the deployed configuration still
   * names; if it names none of them, the fill is dropped.
   */
  override async alarm(): Promise<void> {
    const pending = await this.ctx.storage.get<Pending>("pending");
    if (!pending) return this.tidy();
    if (this.fill) return void (await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS));
    const resumed = resumedFill(pending, () => this.currentConfig());
    if (!resumed) return this.dropPending();
    const { config, target } = resumed;
    log("info", "fill_resumed", { key: target.key, upstreams: target.upstreams });
    const started = await this.ensureFill(config, target);
    if (started.kind !== "ok") await this.dropPending();
  }

  private async dropPending(): Promise<void> {
    await this.ctx.storage.delete("pending");
    await this.tidy();
  }

  /** Removes what has expired and sets the alarm for the next expiry (records.ts). */
  private tidy(): Promise<void> {
    return tidyStorage(this.ctx.storage, Date.now());
  }

  /** The configuration deployed now: this object's own environment is the worker's. */
  private currentConfig(): Config {
    const config = parseConfig({ ...this.env } as Record<string, unknown>);
    useLogFormat(config.logFormat);
    return config;
  }

  private deps(config: Config): FillDeps {
    return { config, store: storeFor(this.env, config), recent: this.recent, waitUntil: (p) => this.ctx.waitUntil(p) };
  }

  private async attempts(): Promise<Attempts> {
    return (await this.ctx.storage.get<Attempts>("attempts")) ?? NO_ATTEMPTS;
  }

  /** Keeps the failed-fill count as `attempts.ts` says it is now (null: as it is stored). */
  private async keepCount(count: Attempts | null): Promise<void> {
    if (count === null) return;
    if (count.count === 0) await this.ctx.storage.delete("attempts");
    else await this.ctx.storage.put("attempts", count);
  }

  /** One probe at a time: concurrent cold requests for a key cost one HEAD per upstream. */
  private probe(deps: FillDeps, target: FillTarget): Promise<Location> {
    this.probing ??= locate(deps, target).finally(() => (this.probing = null));
    return this.probing;
  }

  /** The running fill for this resource, or a new one (a failed fill is never reused). */
  private ensureFill(config: Config, target: FillTarget, validators?: Validators): Promise<Started> {
    if (this.fill && !this.fill.failed) return Promise.resolve({ kind: "ok", fill: this.fill });
    // Requests that arrive while a fill is being started join it instead of starting another.
    this.starting ??= this.startFill(config, target, validators).finally(() => (this.starting = null));
    return this.starting;
  }

  /**
   * The running fill, or once the last one's bookkeeping is done (which upstream it passed over),
   * a new one. A running fill is joined at once: its own bookkeeping waits for its end.
   */
  private async nextFill(config: Config, target: FillTarget): Promise<{ started: Started; joined: boolean }> {
    if (!this.fill || this.fill.failed) await this.settling.catch(() => {});
    const joined = this.running();
    return { started: await this.ensureFill(config, target), joined };
  }

  /** A fill is running or being started here: a requester now joins it rather than starts one. */
  private running(): boolean {
    return (this.fill !== null && !this.fill.failed) || this.starting !== null;
  }

  private async startFill(config: Config, target: FillTarget, validators?: Validators): Promise<Started> {
    this.fill = null;
    const deps = this.deps(config);
    const attempts = await this.attempts();
    const beginning = await target.begin({ deps, attempts, validators, locate: () => this.probe(deps, target) });
    if (beginning.kind !== "ready") return beginning;
    await this.ctx.storage.put("attempts", begun(attempts, Date.now()));

    let shared: SharedFill | undefined;
    let resolveOutcome!: (p: Promise<FillOutcome>) => void;
    const outcomePromise = new Promise<FillOutcome>((r) => (resolveOutcome = r));
    const options = sharedFillOptions(config, target);
    const start = await beginning.start({
      tap: (tap) => {
        shared = new SharedFill(tap, options, deps.store, outcomePromise);
        return shared.tap;
      },
    });
    if (start.kind !== "streaming") {
      // Not a fill that failed: nothing was fetched.
      await this.keepCount(countAfter(attempts, "nothing-fetched"));
      await this.tidy();
      return { kind: "upstream-failed", ...outage(config, start.errors) };
    }
    resolveOutcome(start.outcome);
    const fill = shared!;
    this.fill = fill;
    await this.ctx.storage.put("pending", { spec: target.spec, config } satisfies Pending);
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS);
    this.settling = start.outcome.then(async (outcome) => {
      await this.ctx.storage.delete("pending");
      await this.ctx.storage.deleteAlarm();
      // A committed copy is a new one: what was found about the one before no longer applies.
      if (outcome.committed) await this.ctx.storage.delete("checked");
      await this.keepCount(countAfter(attempts, settledAs(outcome)));
      const quarantine = this.recent.quarantineEntries();
      if (quarantine.length > 0) await this.ctx.storage.put("quarantine", quarantine);
      else await this.ctx.storage.delete("quarantine");
      await this.tidy();
    });
    return { kind: "ok", fill };
  }
}
