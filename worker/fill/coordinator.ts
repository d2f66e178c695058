/**
 * The fill coordinator: one Durable Object per resource (spec §6.3.2, E21). However many requests
 * miss on a resource at once, its object starts one upstream download and every requester streams
 * from it (see SharedFill). It also holds the resource's short memory — which upstreams have it,
 * that none has, which served bad bytes — for the whole deployment rather than one isolate, so a
 * HEAD and the GET after it agree on the upstream and its Content-Length wherever they land.
 *
 * A fill does not depend on its requesters: it runs to the end if they all leave. While it runs an
 * alarm keeps the object awake, and the key is recorded in storage, so a fill interrupted by the
 * object being evicted is started again by the alarm and still ends in the bucket.
 */

import { DurableObject } from "cloudflare:workers";
import { parseResourcePath, type Resource } from "../routes/grammar";
import { parseConfig, type Config } from "../config";
import { RecentLookups } from "./recent";
import { fillFromUpstream, locate, type FillDeps, type FillOutcome } from "./fill";
import { SharedFill } from "./shared";
import { storeFor } from "../runtime";
import { log } from "../log";

/** How the worker tells the coordinator what to do. */
export const FILL_REQUEST = {
  /** The caller's parsed configuration (the worker's, so both always agree). */
  config: "x-pkgedge-config",
  /** `stream` (default), `head`, or `commit` (fill and wait for the outcome, no bytes back). */
  mode: "x-pkgedge-mode",
  /** First and last byte wanted (inclusive), for ranges. */
  start: "x-pkgedge-start",
  end: "x-pkgedge-end",
} as const;

/** What the coordinator answers with, besides the status and the bytes. */
export const FILL_RESPONSE = { length: "x-pkgedge-length", upstream: "x-pkgedge-upstream" } as const;

const KEEPALIVE_MS = 30_000;

type Started = { kind: "ok"; fill: SharedFill } | { kind: "not-found" | "upstream-failed"; detail?: string };

interface Pending {
  key: string;
  config: Record<string, unknown>;
}

export class FillCoordinator extends DurableObject<Env> {
  private fill: SharedFill | null = null;
  private readonly recent = new RecentLookups();

  override async fetch(request: Request): Promise<Response> {
    const key = new URL(request.url).pathname.slice(1);
    const resource = parseResourcePath("/" + key);
    const rawConfig = JSON.parse(request.headers.get(FILL_REQUEST.config) ?? "{}") as Record<string, unknown>;
    if (!resource) return new Response("not a resource", { status: 400 });
    const deps = this.deps(parseConfig(rawConfig));
    const mode = request.headers.get(FILL_REQUEST.mode) ?? "stream";

    if (mode === "head") {
      if (this.fill && !this.fill.failed) return this.answer(200, this.fill.length, this.fill.upstream);
      const located = await locate(deps, resource);
      return located ? this.answer(200, located.hits[0]!.length, located.hits[0]!.upstream) : this.answer(404);
    }

    const started = await this.ensureFill(deps, resource, rawConfig);
    if (started.kind !== "ok") return this.answer(started.kind === "not-found" ? 404 : 502, undefined, undefined, started.detail);
    const fill = started.fill;

    if (mode === "commit") {
      const outcome = await fill.outcome;
      return Response.json(outcome, { headers: { [FILL_RESPONSE.upstream]: fill.upstream } });
    }
    const start = Number(request.headers.get(FILL_REQUEST.start) ?? 0);
    const endHeader = request.headers.get(FILL_REQUEST.end);
    const body = fill.subscribe(start, endHeader === null ? undefined : Number(endHeader));
    return this.answer(200, fill.length, fill.upstream, undefined, body);
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
      const started = await this.ensureFill(this.deps(parseConfig(pending.config)), resource, pending.config);
      if (started.kind !== "ok") await this.ctx.storage.delete("pending");
      return;
    }
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS);
  }

  private deps(config: Config): FillDeps {
    return {
      config,
      store: storeFor(this.env, config),
      recent: this.recent,
      waitUntil: (p) => this.ctx.waitUntil(p),
    };
  }

  /** The running fill for this resource, or a new one (a failed fill is never reused). */
  private ensureFill(deps: FillDeps, resource: Resource, rawConfig: Record<string, unknown>): Promise<Started> {
    if (this.fill && !this.fill.failed) return Promise.resolve({ kind: "ok", fill: this.fill });
    // Requests that arrive while a fill is being started join it instead of starting another.
    this.starting ??= this.startFill(deps, resource, rawConfig).finally(() => (this.starting = null));
    return this.starting;
  }

  private starting: Promise<Started> | null = null;

  private async startFill(deps: FillDeps, resource: Resource, rawConfig: Record<string, unknown>): Promise<Started> {
    this.fill = null;
    let shared: SharedFill | undefined;
    let resolveOutcome!: (p: Promise<FillOutcome>) => void;
    const outcomePromise = new Promise<FillOutcome>((r) => (resolveOutcome = r));
    const start = await fillFromUpstream(deps, resource, {
      tap: ({ upstream, length }) => {
        shared = new SharedFill(resource.key, upstream, length, deps.config.fillWindowBytes, deps.store, outcomePromise);
        return shared.tap;
      },
    });
    if (start.kind === "not-found") return { kind: "not-found" };
    if (start.kind === "upstream-failed") return { kind: "upstream-failed", detail: start.errors.join("; ") };
    resolveOutcome(start.outcome);
    const fill = shared!;
    this.fill = fill;
    await this.ctx.storage.put("pending", { key: resource.key, config: rawConfig } satisfies Pending);
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_MS);
    void start.outcome.then(async () => {
      await this.ctx.storage.delete("pending");
      await this.ctx.storage.deleteAlarm();
    });
    return { kind: "ok", fill };
  }

  private answer(status: number, length?: number, upstream?: string, detail?: string, body?: ReadableStream<Uint8Array>): Response {
    const headers = new Headers();
    if (length !== undefined) headers.set(FILL_RESPONSE.length, String(length));
    if (upstream !== undefined) headers.set(FILL_RESPONSE.upstream, upstream);
    if (detail) headers.set("x-pkgedge-detail", detail.slice(0, 1000));
    return new Response(body ?? null, { status, headers });
  }
}
