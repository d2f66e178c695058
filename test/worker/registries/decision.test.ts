/**
 * The per-registry decision (choice.ts) driven directly: the list moves only to a snapshot proven
 * newer than the published one, by the registry's history, else by content; an unproven candidate
 * is refused and reported, never published. And the history's bookkeeping (history-cache.ts,
 * history.ts): its window, when it is read again, and how GitHub's commits answer is read.
 */

import { describe, expect, it } from "vitest";
import { decide, type HistoryOrder, type Known, type Step, type Verdict } from "../../../worker/registries/choice";
import { mergeWindow, positionsOf, readIsDue } from "../../../worker/registries/history-cache";
import { MIN_READ_INTERVAL_MS } from "../../../worker/registries/history";
import { historyPageUrl, treesOfCommits } from "../../../worker/registries/history";
import { observe, type Observation } from "../../../worker/registries/order";
import { RefreshMemory } from "../../../worker/registries/memory";

const h = (c: string) => c.repeat(40);

/** What the upstreams list: `{ hash: listers }`. */
function listed(hashes: Record<string, string[]>): Observation {
  const responders = new Set(Object.values(hashes).flat());
  return {
    responders,
    configured: responders.size,
    hashes: new Map(Object.entries(hashes).map(([hash, l]) => [hash, { listers: new Set(l), holders: new Set(l) }])),
  };
}

/** A history of these hashes, oldest first (as committed). */
function history(oldestFirst: string[], gap = "not in the registry's history as read"): HistoryOrder {
  return { positions: new Map([...oldestFirst].reverse().map((hash, i) => [hash, i])), gap };
}

const unreadable = history([], "the history could not be read: api.github.com answered 403 (rate limited)");
const known = (published?: string, superseded: string[] = []): Known => ({ published, superseded: new Set(superseded) });

/** Runs the decision to its end, answering each check with `answer` (default: trusted by its origin, content as given). */
function run(
  offered: Observation,
  k: Known,
  hist: HistoryOrder,
  answer: (hash: string, compare: boolean) => Verdict = () => ({ ok: true, by: "origin" }),
): { step: Step & { kind: "chosen" }; asked: { hash: string; compare: boolean }[] } {
  const verdicts = new Map<string, Verdict>();
  const asked: { hash: string; compare: boolean }[] = [];
  for (;;) {
    const step = decide(offered, k, hist, verdicts);
    if (step.kind === "chosen") return { step, asked };
    asked.push({ hash: step.hash, compare: step.compare });
    verdicts.set(step.hash, answer(step.hash, step.compare));
  }
}

describe("moving only on proof", () => {
  it("follows another upstream's advance while the history is down, however many hashes one upstream lists for the registry", () => {
    const U = "23338594-aafe-5451-b93e-139f81909106";
    // X lists six junk hashes for General (all sorting before the real one); B lists the real advance.
    const lists = new Map([
      ["X", ["2", "3", "4", "5", "6", "7"].map((c) => ({ uuid: U, treeHash: h(c) }))],
      ["B", [{ uuid: U, treeHash: h("9") }]],
    ]);
    const junk: Verdict = { ok: false, reason: "untrusted: its origin does not have it", filled: false };
    const { step } = run(observe(lists, 2).get(U)!, known(h("1")), unreadable, (hash) =>
      hash === h("9") ? { ok: true, by: "origin", content: "newer" } : junk,
    );
    expect(step).toMatchObject({ hash: h("9"), proof: "content" });
  });

  it("follows a complete advance at once: every upstream lists only the next snapshot (no dwell)", () => {
    const { step } = run(listed({ [h("2")]: ["A", "B"] }), known(h("1")), history([h("1"), h("2")]));
    expect(step).toMatchObject({ hash: h("2"), proof: "history", confirmedBy: "origin", refused: [] });
  });

  it("never goes back to what a lagging upstream lists while the one that had the published snapshot is unreachable", () => {
    // A lags (it lists S0); B, which listed the published S1, could not be read this round.
    const { step, asked } = run(listed({ [h("0")]: ["A"] }), known(h("1")), history([h("0"), h("1")]));
    expect(step.hash).toBe(h("1"));
    expect(asked).toEqual([]); // refused before any origin check or fill
    expect(step.refused).toEqual([{ hash: h("0"), reason: "older than the published snapshot in the registry's history" }]);
    expect(step.backwards).toBe(true);
  });

  it("takes the newest of several proven candidates, and the next when it fails its checks", () => {
    const offered = listed({ [h("2")]: ["A"], [h("3")]: ["B"], [h("0")]: ["C"] });
    const hist = history([h("0"), h("1"), h("2"), h("3")]);
    const { step, asked } = run(offered, known(h("1")), hist, (hash) =>
      hash === h("3") ? { ok: false, reason: "could not be stored: broken", filled: true } : { ok: true, by: "origin" },
    );
    expect(asked.map((a) => a.hash)).toEqual([h("3"), h("2")]);
    expect(step).toMatchObject({ hash: h("2"), proof: "history" });
  });

  it("refuses a candidate the history cannot order and content does not prove newer, and says why", () => {
    for (const content of ["unproven", "same", "older"] as const) {
      const { step, asked } = run(listed({ [h("9")]: ["A", "B"] }), known(h("1")), unreadable, () => ({ ok: true, by: "origin", content }));
      expect(asked).toEqual([{ hash: h("9"), compare: true }]);
      expect(step.hash, content).toBe(h("1"));
      expect(step.refused[0]!.reason, content).toMatch(
        content === "older" ? /^older than the published snapshot by content/ : /^unproven: /,
      );
      expect(step.refused[0]!.reason).toContain("403 (rate limited)");
      expect(step.backwards).toBe(content === "older");
    }
  });

  it("takes a candidate content proves newer when the history cannot be read", () => {
    const { step } = run(listed({ [h("9")]: ["A"] }), known(h("1")), unreadable, () => ({ ok: true, by: "quorum", content: "newer" }));
    expect(step).toMatchObject({ hash: h("9"), proof: "content", confirmedBy: "quorum" });
  });

  it("asks content only for what the history cannot order, after what it can", () => {
    const offered = listed({ [h("9")]: ["A", "B"], [h("2")]: ["C"] });
    const { asked } = run(offered, known(h("1")), history([h("1"), h("2")]), () => ({ ok: false, reason: "no", filled: false }));
    expect(asked).toEqual([
      { hash: h("2"), compare: false },
      { hash: h("9"), compare: true },
    ]);
  });

  it("never offers a hash pkgedge published and replaced, even one the history has not read", () => {
    const { step, asked } = run(listed({ [h("0")]: ["A"] }), known(h("1"), [h("0")]), unreadable);
    expect(asked).toEqual([]);
    expect(step.hash).toBe(h("1"));
  });

  it("publishes a first snapshot without proof, the history's newest first", () => {
    const { step, asked } = run(listed({ [h("1")]: ["A", "B"], [h("2")]: ["C"], [h("7")]: ["D"] }), known(), history([h("1"), h("2")]));
    expect(asked).toEqual([{ hash: h("2"), compare: false }]);
    expect(step).toMatchObject({ hash: h("2"), proof: "first" });
  });

  it("does not depend on the order upstreams are listed in", () => {
    const a = run(listed({ [h("a")]: ["A"], [h("b")]: ["B"] }), known(), unreadable).step.hash;
    const b = run(listed({ [h("b")]: ["A"], [h("a")]: ["B"] }), known(), unreadable).step.hash;
    expect(a).toBe(b);
  });

  it("stops at the round's caps, and says so", () => {
    const offered = listed(Object.fromEntries(["2", "3", "4", "5", "6", "7"].map((c) => [h(c), ["A"]])));
    const hist = history([h("1"), ...["2", "3", "4", "5", "6", "7"].map(h)]);
    const untrusted = run(offered, known(h("1")), hist, () => ({ ok: false, reason: "its origin does not know it", filled: false }));
    expect(untrusted.step).toMatchObject({ hash: h("1"), capped: "tried 5 candidates", left: 1 });
    const broken = run(offered, known(h("1")), hist, () => ({ ok: false, reason: "could not be stored", filled: true }));
    expect(broken.step).toMatchObject({ capped: "started 2 fills", left: 4 });
  });
});

describe("the history's window", () => {
  it("extends a new read by the older one: below the overlap, or whole below a read that does not reach it; an empty read changes nothing", () => {
    expect(mergeWindow(["d", "c", "b"], ["b", "a"])).toEqual(["d", "c", "b", "a"]);
    // A tree restored by a revert appears twice: its newest appearance is its position.
    expect([...positionsOf(["a", "b", "a", "c"])]).toEqual([
      ["a", 0],
      ["b", 1],
      ["c", 3],
    ]);
    // More commits than a page since the older read: everything in it is still older than the page.
    expect(mergeWindow(["f", "e"], ["b", "a"])).toEqual(["f", "e", "b", "a"]);
    expect(mergeWindow([], ["b", "a"])).toEqual(["b", "a"]);
    // A stale page (its newest commit is below the top kept) never drops the newer commits.
    expect(mergeWindow(["b", "a"], ["d", "c", "b", "a"])).toEqual(["d", "c", "b", "a"]);
    expect(mergeWindow(["c", "b"], ["d", "c", "b", "a"])).toEqual(["d", "c", "b", "a"]);
    // A revert restores a kept tree on top: a new page, not a stale one.
    expect(mergeWindow(["b", "c", "b", "a"], ["c", "b", "a"])).toEqual(["b", "c", "b", "a"]);
    const long = Array.from({ length: 1500 }, (_, i) => String(i));
    expect(mergeWindow(long.slice(0, 100), long.slice(99))).toHaveLength(1000);
  });

  it("is not asked again about a hash a read did not hold for ten minutes (in that isolate)", () => {
    let t = 0;
    const memory = new RefreshMemory(() => t);
    memory.rememberNotInHistory("x");
    t = 600_000 - 1;
    expect(memory.notInHistory("x")).toBe(true);
    t = 600_000;
    expect(memory.notInHistory("x")).toBe(false);
  });

  it("is read again only for a hash it lacks, at most once per interval, never before a rate limit's reset", () => {
    const t = Date.parse("2026-01-01T00:00:00Z");
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(readIsDue({ trees: [] }, ["x"], t)).toBe(true);
    expect(readIsDue({ trees: ["x"] }, [], t)).toBe(false);
    expect(readIsDue({ trees: [], attemptAt: iso(t - MIN_READ_INTERVAL_MS + 1000) }, ["x"], t)).toBe(false);
    expect(readIsDue({ trees: [], attemptAt: iso(t - MIN_READ_INTERVAL_MS) }, ["x"], t)).toBe(true);
    expect(readIsDue({ trees: [], attemptAt: iso(t - 3600_000), notBefore: iso(t + 1000) }, ["x"], t)).toBe(false);
    // Times the cache cannot vouch for never stop a read (a corrupt or skewed copy in the bucket).
    expect(readIsDue({ trees: [], attemptAt: "not a date" }, ["x"], t)).toBe(true);
    expect(readIsDue({ trees: [], attemptAt: iso(t + 3600_000) }, ["x"], t)).toBe(true);
    expect(readIsDue({ trees: [], notBefore: iso(t + 2 * 3600_000) }, ["x"], t)).toBe(true);
    expect(readIsDue({ trees: [], notBefore: "garbage" }, ["x"], t)).toBe(true);
  });

  it("reads GitHub's commits answer: tree hashes, newest first; anything else is no history", () => {
    const tree = "a".repeat(40);
    expect(treesOfCommits([{ sha: "b".repeat(40), commit: { tree: { sha: tree } } }])).toEqual([tree]);
    expect(treesOfCommits({ message: "API rate limit exceeded" })).toMatch(/not a list/);
    expect(treesOfCommits([{ commit: {} }])).toMatch(/without a tree hash/);
    expect(historyPageUrl("https://api.github.com/repos/JuliaRegistries/General/commits?sha=master")).toBe(
      "https://api.github.com/repos/JuliaRegistries/General/commits?sha=master&per_page=100",
    );
  });
});
