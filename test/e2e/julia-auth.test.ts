/**
 * A private pkgedge (AUTH=protocol) under `wrangler dev`, with the real Julia client: Pkg installs
 * with the auth.toml `npm run token` printed in its depot, fails with the 401 body without one,
 * and refreshes a token that expires within 10 minutes through /auth/refresh. The operator's
 * revocation goes through the same server. The Julia part is skipped, visibly, without a Julia
 * (julia-client.ts); CI runs it.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstream, type Upstream } from "../shared/control.ts";
import "../shared/manifest.ts";
import { requestLines, startWranglerDev, type WranglerDev } from "../fixtures/wrangler-dev.ts";
import { haveJulia, julia } from "./julia-client.ts";
import { runScript } from "./run-script.ts";

const manifest = inject("manifest");
const KEY = "julia-e2e-signing-key-0123456789abcdef";
const HELP = "write to pkg-admins@example.org";

describe("a private pkgedge (AUTH=protocol) under wrangler dev", () => {
  let up: Upstream;
  let dev: WranglerDev;
  let persistTo: string;
  let scratch: string;

  beforeAll(async () => {
    const list = `${manifest.snapshots[1]!}\n`;
    up = await createUpstream(manifest.controlUrl, { lists: { eager: list, conservative: list } });
    persistTo = mkdtempSync(join(tmpdir(), "pkgedge-auth-state-"));
    scratch = mkdtempSync(join(tmpdir(), "pkgedge-auth-files-"));
    dev = await startWranglerDev({
      vars: { UPSTREAM_SERVERS: up.url, AUTH: "protocol", AUTH_SIGNING_KEY: KEY, AUTH_REVOCATION_TTL_SECONDS: "1", AUTH_HELP: HELP },
      persistTo,
    });
  });

  afterAll(async () => {
    await dev?.stop();
    for (const dir of [persistTo, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** An auth.toml from the operator tool, written to a file; `accessExpires` is the first access token's lifetime. */
  async function issue(user: string, accessExpires = "1d"): Promise<string> {
    const out = join(scratch, `${user}-${crypto.randomUUID()}.toml`);
    const run = await runScript("infra/token.ts", ["--user", user, "--url", dev.url, "--access-expires", accessExpires, "--out", out], {
      AUTH_SIGNING_KEY: KEY,
    });
    expect(run.code, run.output).toBe(0);
    return out;
  }

  const field = (toml: string, name: string) => new RegExp(`^${name} = "?([^"\\n]+)"?$`, "m").exec(toml)?.[1];

  it("refuses without a token, and npm run token -- --revoke ends a user's access within the TTL", async () => {
    const refused = await fetch(`${dev.url}/registries.eager`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain(HELP);
    const token = field(readFileSync(await issue("dora"), "utf8"), "access_token")!;
    const ok = await fetch(`${dev.url}/registries.eager`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toMatch(/^private/);
    await ok.arrayBuffer();
    const revoke = await runScript("infra/token.ts", ["--revoke", "dora", "--url", dev.url], { AUTH_SIGNING_KEY: KEY });
    expect(revoke.code, revoke.output).toBe(0);
    expect(revoke.output).toContain("within 1 s");
    await new Promise((r) => setTimeout(r, 1100));
    const after = await fetch(`${dev.url}/registries.eager`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    expect(await after.text()).toContain("revoked");
  });

  it("npm run token -- --revoke-token <grant id> ends one file's access, refreshes of it included, and no other", async () => {
    const issueFor = async (user: string) => {
      const out = join(scratch, `${user}-${crypto.randomUUID()}.toml`);
      const run = await runScript("infra/token.ts", ["--user", user, "--url", dev.url, "--out", out], { AUTH_SIGNING_KEY: KEY });
      expect(run.code, run.output).toBe(0);
      return { toml: readFileSync(out, "utf8"), grant: /grant id ([\w-]+)/.exec(run.output)![1]! };
    };
    const laptop = await issueFor("gus");
    const desktop = await issueFor("gus");
    const refreshed = await fetch(field(laptop.toml, "refresh_url")!, {
      headers: { authorization: `Bearer ${field(laptop.toml, "refresh_token")}` },
    });
    expect(refreshed.status).toBe(200);
    const laterToken = field(await refreshed.text(), "access_token")!;
    const revoke = await runScript("infra/token.ts", ["--revoke-token", laptop.grant, "--url", dev.url], { AUTH_SIGNING_KEY: KEY });
    expect(revoke.code, revoke.output).toBe(0);
    expect(revoke.output).toContain("pkgedge keeps no list of issued ids");
    await new Promise((r) => setTimeout(r, 1100));
    const status = async (token: string) => {
      const res = await fetch(`${dev.url}/registries.eager`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      return res.status;
    };
    expect(await status(field(laptop.toml, "access_token")!)).toBe(401);
    expect(await status(laterToken)).toBe(401);
    expect(await status(field(desktop.toml, "access_token")!)).toBe(200);
  });

  describe.skipIf(!haveJulia)("with the real Julia client", () => {
    /** Installs `from` (if any) where this Julia's Pkg looks for it, adds Example, copies the file back to `back`. */
    const script = (from: string | null, back: string) => `
      using Pkg
      dir = Pkg.PlatformEngines.get_server_dir(ENV["JULIA_PKG_SERVER"])
      println("SERVER_DIR=", dir)
      mkpath(dir)
      ${from ? `cp("${from}", joinpath(dir, "auth.toml"))` : ""}
      try
        Pkg.add("Example")
        using Example
        println("HELLO=", Example.hello("private"))
      finally
        isfile(joinpath(dir, "auth.toml")) && cp(joinpath(dir, "auth.toml"), "${back}"; force=true)
      end
    `;

    it("installs Example with the auth.toml npm run token printed in the depot", async () => {
      const back = join(scratch, "back-ok.toml");
      const { code, output } = await julia(dev.url, script(await issue("alice"), back));
      expect(code, output).toBe(0);
      expect(output).toContain("HELLO=Hello, private");
      // Pkg's directory for http://127.0.0.1:<port>: Julia 1.5 keeps the ":", later Pkg writes "_".
      expect(output).toMatch(new RegExp(`SERVER_DIR=.*/servers/127\\.0\\.0\\.1[:_]${dev.port}\\s`));
      const lines = requestLines(dev.output()).filter((l) => String(l.path).startsWith(`/package/${manifest.example.uuid}/`));
      expect(lines.some((l) => l.auth_user === "alice" && l.status === 200)).toBe(true);
    });

    // Julia 1.5.3's Pkg does not print a failed download's body: it says "could not download
    // <url>/registries" and falls back to cloning from GitHub. The server's log shows why.
    it("fails without a token: Pkg cannot download /registries, which the server refused with 401 (no token)", async () => {
      const { code, output } = await julia(dev.url, script(null, join(scratch, "back-none.toml")));
      expect(code, output).not.toBe(0);
      expect(output).not.toContain("HELLO=");
      expect(output).toContain(`could not download ${dev.url}/registries`);
      const refused = requestLines(dev.output()).filter((l) => String(l.path).startsWith("/registries") && l.status === 401);
      expect(refused.some((l) => l.auth === "missing")).toBe(true);
      expect(requestLines(dev.output()).some((l) => l.status === 401 && l.auth_user !== undefined)).toBe(false);
    });

    it("fails once the user's tokens are revoked", async () => {
      const from = await issue("erin");
      const revoke = await runScript("infra/token.ts", ["--revoke", "erin", "--url", dev.url], { AUTH_SIGNING_KEY: KEY });
      expect(revoke.code, revoke.output).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      const { code, output } = await julia(dev.url, script(from, join(scratch, "back-revoked.toml")));
      expect(code, output).not.toBe(0);
      expect(output).not.toContain("HELLO=");
      const refused = requestLines(dev.output()).filter((l) => l.status === 401 && l.auth === "revoked");
      expect(refused.length).toBeGreaterThanOrEqual(1);
    });

    it("refreshes a token that expires within 10 minutes through /auth/refresh, and rewrites auth.toml", async () => {
      const from = await issue("bert", "300s");
      const before = readFileSync(from, "utf8");
      const back = join(scratch, "back-refreshed.toml");
      writeFileSync(back, "");
      const { code, output } = await julia(dev.url, script(from, back));
      expect(code, output).toBe(0);
      const after = readFileSync(back, "utf8");
      expect(field(after, "access_token")).toBeTruthy();
      expect(field(after, "access_token")).not.toBe(field(before, "access_token"));
      expect(field(after, "refresh_url")).toBe(`${dev.url}/auth/refresh`);
      expect(Number(field(after, "expires_at"))).toBeGreaterThan(Date.now() / 1000 + 3600);
      const refreshes = requestLines(dev.output()).filter((l) => l.path === "/auth/refresh" && l.status === 200 && l.auth_user === "bert");
      expect(refreshes.length).toBeGreaterThanOrEqual(1);
    });
  });
});
