/**
 * Private registries (REGISTRY_CREDENTIALS): a registry's credential goes to its origin and history
 * hosts only, never to the upstreams or anywhere else, and is never shown.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { manifest, storedText, testWorker, upstream } from "../harness";
import { registryAuthorization, registryHosts } from "../../../worker/registries/origin";

afterEach(() => vi.restoreAllMocks());

const SECRET = "Bearer pkgedge-registry-s3cr3t";
const list = (i: number) => `${manifest.snapshots[i]!}\n`;

describe("REGISTRY_CREDENTIALS", () => {
  it("reaches the registry's origin and history, not the upstream, and is never logged", async () => {
    const spies = (["log", "info", "warn", "error"] as const).map((m) => vi.spyOn(console, m));
    const up = await upstream({ lists: { conservative: list(0) } });
    const origin = await upstream({ authorization: SECRET });
    const uuid = manifest.registryUuid;
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      REGISTRIES: `${uuid}=${origin.url}/origin/{hash}`,
      REGISTRY_HISTORY: `${uuid}=${origin.url}/history`,
      REGISTRY_CREDENTIALS: `${uuid}=${SECRET}`,
    });
    await m.scheduled();
    await m.settle();
    expect(await storedText("registries.conservative")).toBe(list(0));
    const asked = await origin.log();
    expect(asked.length, "the origin was asked").toBeGreaterThan(0);
    for (const r of asked) expect(r.headers.authorization, `${r.method} ${r.path}`).toBe(SECRET);
    for (const r of await up.log()) expect(r.headers.authorization, `${r.method} ${r.path}`).toBeUndefined();
    const meta = await (await m.fetch("/meta")).text();
    await m.settle();
    expect(meta).not.toContain("s3cr3t");
    const lines = spies.flatMap((s) => s.mock.calls.map((c) => c.map(String).join(" "))).join("\n");
    expect(lines).not.toContain("s3cr3t");
  });

  it("is scoped to the hosts of the registry's origin and history, over https or to loopback", () => {
    const registry = {
      uuid: manifest.registryUuid,
      originTemplate: "https://git.example.edu/api/v4/projects/1/repository/archive?sha={hash}",
      historyUrl: "https://api.example.edu/commits",
    };
    const credential = { value: SECRET, hosts: registryHosts(registry) };
    expect(registryAuthorization("https://git.example.edu/x", "gh", credential)).toBe(SECRET);
    expect(registryAuthorization("https://api.example.edu/commits", "gh", credential)).toBe(SECRET);
    expect(registryAuthorization("https://download.example.edu/x", "gh", credential)).toBeNull();
    expect(registryAuthorization("http://git.example.edu/x", "gh", credential)).toBeNull();
    expect(registryAuthorization("https://api.github.com/repos/a/b/commits", "gh", credential)).toBeNull();
    // Without one, GITHUB_TOKEN goes to GitHub's API as before.
    expect(registryAuthorization("https://api.github.com/repos/a/b/commits", "gh")).toBe("Bearer gh");
  });
});
