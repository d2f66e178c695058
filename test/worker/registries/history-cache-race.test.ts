/**
 * Two isolates writing the history cache at once: a write builds on the latest copy, so a rate
 * limit one of them was told about is kept whichever write lands last.
 */

import { describe, expect, it } from "vitest";
import { historyFor, readIsDue } from "../../../worker/registries/history-cache";
import type { HistoryRead } from "../../../worker/registries/history";
import { RefreshMemory } from "../../../worker/registries/memory";
import type { RegistrySources } from "../../../worker/registries/sources";
import { bucket, manifest } from "../harness";

const UUID = manifest.registryUuid;
const registry = { uuid: UUID, historyUrl: "https://api.github.com/repos/JuliaRegistries/General/commits" };
const h = (c: string) => c.repeat(40);

function sourcesAnswering(answer: () => Promise<HistoryRead>): RegistrySources {
  return { history: answer } as unknown as RegistrySources;
}

describe("two isolates reading the history at once", () => {
  it("keeps a rate limit one of them was told about, whichever write lands last", async () => {
    const store = bucket();
    const now = Date.now();
    // Isolate A's read was sent first and answers late; isolate B is refused: rate limited for ten minutes.
    const slow = sourcesAnswering(() => new Promise((resolve) => setTimeout(() => resolve({ kind: "read", trees: [h("1")] }), 300)));
    const limited = sourcesAnswering(async () => ({
      kind: "unavailable",
      error: "api.github.com answered 403 (rate limited)",
      retryAt: now + 600_000,
    }));
    const a = historyFor(store, slow, registry, [h("2")], new RefreshMemory(), now);
    await new Promise((r) => setTimeout(r, 50));
    await historyFor(store, limited, registry, [h("2")], new RefreshMemory(), now);
    await a;
    const stored = JSON.parse(await new Response((await store.get(`_pkgedge/history.${UUID}.json`))!.body).text());
    // A third isolate, a minute later, with a hash nobody has read yet.
    expect(readIsDue(stored, [h("3")], now + 60_000), `asked again before the limit's reset (cache: ${JSON.stringify(stored)})`).toBe(
      false,
    );
  });
});
