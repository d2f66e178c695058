/** Operator endpoints: `/meta` (what this mirror is, where it fills from, how fresh its registries are) and `/robots.txt`. */

import pkg from "../../package.json";
import { FLAVORS } from "../routes/flavor";
import { parseRegistryList } from "../routes/grammar";
import { listKey, readState } from "../registries/state";
import type { Runtime } from "../runtime";

export const PKGEDGE_VERSION: string = pkg.version;

export async function meta(rt: Runtime, request: Request): Promise<Response> {
  const registries: Record<string, unknown> = {};
  await Promise.all(
    FLAVORS.map(async (flavor) => {
      const [list, state] = await Promise.all([rt.store.get(listKey(flavor)), readState(rt.store, flavor)]);
      registries[flavor] = {
        registries: list ? parseRegistryList(await new Response(list.body).text()) : [],
        published_at: state?.publishedAt ?? list?.uploaded.toISOString() ?? null,
        last_check_at: state?.lastCheckAt ?? null,
        last_attempt_at: state?.lastAttemptAt ?? null,
        last_error: state?.lastError ?? null,
      };
    }),
  );
  const url = new URL(request.url);
  return Response.json(
    {
      pkgedge_version: PKGEDGE_VERSION,
      pkgserver_version: `pkgedge-${PKGEDGE_VERSION}`,
      pkgserver_url: url.origin + rt.config.pathPrefix,
      upstreams: rt.config.upstreams,
      // The latest upstream failures requests to this isolate ran into, each with its cause in words.
      upstream_failures: rt.upstreamFailures,
      isolate_started_at: rt.startedAt.toISOString(),
      registries,
    },
    { headers: { "cache-control": "no-store" } },
  );
}

export function robots(): Response {
  return new Response("User-agent: *\nDisallow: /\n", { headers: { "content-type": "text/plain" } });
}
