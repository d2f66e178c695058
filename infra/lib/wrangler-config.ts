/**
 * wrangler.toml as wrangler itself reads it (its own reader, offline), so the operator scripts
 * name environments, buckets and queues exactly as a deploy will.
 */

import { join } from "node:path";
import { experimental_readRawConfig, type Unstable_RawConfig, type Unstable_RawEnvironment } from "wrangler";
import { REPO } from "../repo.ts";
import { ToolFailure } from "./failure.ts";

function rawConfig(): Unstable_RawConfig {
  return experimental_readRawConfig({ config: join(REPO, "wrangler.toml") }).rawConfig as Unstable_RawConfig;
}

/** The named environments (`[env.NAME]`); the top level is the local configuration. */
export function wranglerEnvironments(): string[] {
  return Object.keys(rawConfig().env ?? {});
}

/** The refusal of an environment wrangler.toml does not name (the top level is never deployed). */
export function unknownEnvironment(name: string | undefined): ToolFailure {
  return new ToolFailure(
    `--env must name an environment of wrangler.toml (${wranglerEnvironments().join(", ")}), not ${JSON.stringify(name ?? "")}; the top level is the local configuration and is never deployed`,
  );
}

function environment(name: string): Unstable_RawEnvironment {
  const env = rawConfig().env?.[name];
  if (!env) throw unknownEnvironment(name);
  return env;
}

/** The bucket_name of an environment's BUCKET binding. */
export function bucketOf(env: string): string {
  const name = environment(env).r2_buckets?.find((b) => b.binding === "BUCKET")?.bucket_name;
  if (!name) throw new ToolFailure(`wrangler.toml has no [[env.${env}.r2_buckets]] BUCKET binding with a bucket_name`);
  return name;
}

/** The queues an environment consumes, with their dead-letter queues, each once. */
export function queuesOf(env: string): string[] {
  const consumers = environment(env).queues?.consumers ?? [];
  return [...new Set(consumers.flatMap((c) => [c.queue, ...(c.dead_letter_queue ? [c.dead_letter_queue] : [])]))];
}

/** How an environment is reached once deployed: its routes or custom domains, its workers.dev address, or nothing. */
export function reachOf(env: string): string[] {
  const e = environment(env) as Unstable_RawEnvironment & { route?: unknown; routes?: unknown[]; workers_dev?: boolean };
  const routes = [...(e.routes ?? []), ...(e.route ? [e.route] : [])].map((r) =>
    typeof r === "string" ? r : String((r as { pattern?: string }).pattern ?? JSON.stringify(r)),
  );
  return [...routes, ...(e.workers_dev === true ? [`${e.name ?? env}.<account>.workers.dev`] : [])];
}
