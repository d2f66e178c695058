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
      AUTH: "external",
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

  it("a private origin's redirect to its sign-in page vouches for no hash, and /meta says why", async () => {
    const up = await upstream({ lists: { conservative: list(1) } });
    const origin = await upstream({});
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      REGISTRIES: `${manifest.registryUuid}=${origin.url}/signin-origin/{hash}`,
      REGISTRY_CREDENTIALS: `${manifest.registryUuid}=${SECRET}`,
      AUTH: "external",
    });
    await m.scheduled();
    await m.settle();
    expect((await origin.log()).map((r) => r.path)).toContain("/users/sign_in"); // followed to where it led
    const meta = await (await m.fetch("/meta")).text();
    await m.settle();
    // The origin could not be asked (as with a 401): not "confirmed by the origin", and /meta says why.
    const info = (JSON.parse(meta) as any).registries.conservative.by_registry[manifest.registryUuid];
    expect(info.confirmed_by).not.toBe("origin");
    expect(meta).toContain("answered a web page, not a download");
  });

  it("a private origin's redirect to a download is followed, and the download vouches", async () => {
    const up = await upstream({ lists: { conservative: list(1) } });
    const origin = await upstream({ authorization: SECRET, origin: [manifest.objects[manifest.snapshots[1]!]!.treeHash] });
    // The origin template answers 302 to /origin/<hash> on its own host (what moved-origin does with 301).
    const m = testWorker({
      UPSTREAM_SERVERS: up.url,
      REGISTRIES: `${manifest.registryUuid}=${origin.url}/moved-origin/{hash}`,
      REGISTRY_CREDENTIALS: `${manifest.registryUuid}=${SECRET}`,
      AUTH: "external",
    });
    await m.scheduled();
    await m.settle();
    expect(await storedText("registries.conservative")).toBe(list(1));
  });

  it("is refused for a registry whose origin is plain http and not loopback (it would never be sent), naming the variable", async () => {
    const m = testWorker({
      REGISTRIES: `${manifest.registryUuid}=http://git.example.org/{hash}`,
      REGISTRY_CREDENTIALS: `${manifest.registryUuid}=${SECRET}`,
      AUTH: "external",
    });
    const res = await m.fetch("/registries");
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(body).toContain("REGISTRY_CREDENTIALS");
    expect(body).toContain("http://git.example.org is not https");
    expect(body).not.toContain("s3cr3t");
  });

  it("is refused unless all of pkgedge is behind authentication (AUTH=all or external), naming the variable", async () => {
    for (const mode of [undefined, "protocol"]) {
      const m = testWorker({
        REGISTRIES: `${manifest.registryUuid}=https://git.example.org/{hash}`,
        REGISTRY_CREDENTIALS: `${manifest.registryUuid}=${SECRET}`,
        ...(mode ? { AUTH: mode, AUTH_SIGNING_KEY: "k".repeat(32) } : {}),
      });
      const res = await m.fetch("/", { headers: { accept: "application/json" } });
      const body = await res.text();
      expect(res.status, String(mode)).toBe(500);
      expect(body).toContain(`REGISTRY_CREDENTIALS: with AUTH=${mode ?? "off"} a private registry`);
      expect(body).not.toContain("s3cr3t");
    }
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
