/**
 * The judge: a real Julia client installing packages and an artifact through pkgedge under
 * `wrangler dev`. Pkg verifies every tree hash itself. The Julia is found as users have it:
 * PKGEDGE_JULIA (a julia binary), else `julia` on PATH, else the pinned 1.5.3 install
 * (../shared/tools/julia.sh). Runs always in CI; elsewhere it is skipped, visibly, without one.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstream, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { requestLines, startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { haveJulia, installScript, julia } from "./julia-client.ts";

const manifest = inject("manifest");
describe.skipIf(!haveJulia)("a real Julia client (Pkg) against wrangler dev", () => {
  let up: Upstream;
  let dev: WranglerDev;
  let persistTo: string;
  const snapshot = () => manifest.snapshots[1]!;
  const artifactHash = () => manifest.objects[manifest.artifact]!.treeHash;

  beforeAll(async () => {
    // Both flavors carry the newest snapshot: Julia 1.5 picks a flavor from its own CI detection.
    const list = `${snapshot()}\n`;
    up = await createUpstream(manifest.controlUrl, { lists: { eager: list, conservative: list } });
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-julia-state-"));
    dev = await startWranglerDev({ vars: { UPSTREAM_SERVERS: up.url }, persistTo });
  });

  afterAll(async () => {
    await dev?.stop();
    if (persistTo) rmSync(persistTo, { recursive: true, force: true });
  });

  const script = () =>
    installScript(
      artifactHash(),
      `println("ARTIFACT_EXE=", isfile(joinpath(Pkg.Artifacts.artifact_path(Base.SHA1("${artifactHash()}")), "bin", "hello")))
    # Julia 1.7+ keeps the registry as a tarball beside General.toml; 1.5 unpacks it with .tree_info.toml.
    regs = joinpath(DEPOT_PATH[1], "registries")
    info = isfile(joinpath(regs, "General.toml")) ? joinpath(regs, "General.toml") : joinpath(regs, "General", ".tree_info.toml")
    println("REGISTRY=", read(info, String))`,
    );

  for (const phase of ["cold", "warm"]) {
    it(`installs a registry, packages and an artifact from pkgedge (${phase}), with no git fallback (C53)`, async () => {
      const { code, output } = await julia(dev.url, script());
      if (code !== 0) console.log(output);
      expect(code, output).toBe(0);
      expect(output).toMatch(/Installed Example .* v0\.5\.3/);
      expect(output).toMatch(/Installed Hello_jll .* v1\.0\.0/);
      expect(output).not.toMatch(/Cloning|could not download|does not match expected hash/);
      expect(output).toContain("HELLO=Hello, pkgedge");
      expect(output).toContain("ARTIFACT=true");
      expect(output).toContain("ARTIFACT_EXE=true");
      expect(output).toContain(`git-tree-sha1 = "${manifest.objects[snapshot()]!.treeHash}"`);
      // Every tarball Julia fetched was verified by Julia itself; on the warm run none came from upstream.
      const tarballGets = (await up.log()).filter((r) => r.method === "GET" && !r.path.startsWith("/registries"));
      if (phase === "cold") expect(tarballGets.length).toBeGreaterThanOrEqual(3);
      else expect(tarballGets.length).toBe(coldGets);
      coldGets = tarballGets.length;
      // The access log has Julia's own request for Example's tarball, with the client's headers.
      const version = /JULIA_VERSION=(\S+)/.exec(output)?.[1];
      expect(version, "the script prints its VERSION").toBeTruthy();
      await new Promise((r) => setTimeout(r, 500)); // the line is written once the body was delivered
      const lines = requestLines(dev.output());
      const examplePath = (l: Record<string, unknown>) => String(l.path).startsWith(`/package/${manifest.example.uuid}/`);
      const ours = lines.filter((l) => examplePath(l) && l.julia_version === version && l.status === 200 && l.broken === false);
      expect(ours.length, `a request line for Example with Julia-Version ${version}`).toBeGreaterThanOrEqual(phase === "cold" ? 1 : 2);
      expect(ours.at(-1)).toMatchObject({
        cache: phase === "cold" ? expect.stringMatching(/^(miss|joined)$/) : "hit",
        julia_interactive: "false",
      });
      expect(String(ours.at(-1)!.julia_system)).toMatch(/linux/);
    });
  }
  let coldGets = 0;
});
