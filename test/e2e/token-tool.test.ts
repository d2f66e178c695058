/** `npm run token`: the auth.toml a user installs, from the signing key in the environment, or a one-line refusal. */

import { describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyToken } from "../../worker/auth/token.ts";
import { runScript } from "./run-script.ts";
import { freePort } from "../fixtures/wrangler-dev.ts";

const KEY = "tool-test-signing-key-0123456789abcdef";

describe("npm run token", () => {
  it("refuses in one line without AUTH_SIGNING_KEY", async () => {
    const { code, output } = await runScript("infra/token.ts", ["--user", "alice", "--url", "https://pkg.example.org"], {
      AUTH_SIGNING_KEY: "",
    });
    expect(code).toBe(2);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toContain("AUTH_SIGNING_KEY");
  });

  it("prints the auth.toml for a user and says where it goes", async () => {
    const { code, output } = await runScript(
      "infra/token.ts",
      ["--user", "alice", "--expires", "90d", "--url", "https://pkg.example.org:8443/julia/"],
      { AUTH_SIGNING_KEY: KEY },
    );
    expect(code, output).toBe(0);
    const field = (name: string) => new RegExp(`^${name} = "?([^"\\n]+)"?$`, "m").exec(output)?.[1];
    const access = await verifyToken(KEY, field("access_token")!, "access");
    const refresh = await verifyToken(KEY, field("refresh_token")!, "refresh");
    expect(access.ok && access.payload.sub).toBe("alice");
    expect(refresh.ok && refresh.payload.exp - refresh.payload.iat).toBe(90 * 86400);
    expect(Number(field("expires_at"))).toBe(access.ok ? access.payload.exp : -1);
    expect(field("refresh_url")).toBe("https://pkg.example.org:8443/julia/auth/refresh");
    expect(output).toContain("~/.julia/servers/pkg.example.org_8443/auth.toml");
    expect((await verifyToken("another-key-0123456789abcdef0123456789", field("access_token")!, "access")).ok).toBe(false);
    // One grant: the id printed is the one both tokens carry (and every refresh of them will).
    expect(access.ok && refresh.ok && access.payload.gid).toBe(refresh.ok && refresh.payload.gid);
    expect(output).toContain(`grant id ${refresh.ok && refresh.payload.gid}`);
  });

  it("--out writes a file only its owner reads, also over an existing file that others could", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "pkgedge-token-")), "auth.toml");
    writeFileSync(out, "old\n");
    chmodSync(out, 0o644);
    const { code, output } = await runScript("infra/token.ts", ["--user", "alice", "--url", "https://pkg.example.org", "--out", out], {
      AUTH_SIGNING_KEY: KEY,
    });
    expect(code, output).toBe(0);
    expect((statSync(out).mode & 0o777).toString(8)).toBe("600");
    expect(readFileSync(out, "utf8")).toMatch(/^access_token = "pkgedge1\./);
  });

  it("takes a token or grant id that starts with '-' (base64url ids may) as --revoke-token's value", async () => {
    const port = await freePort();
    const { code, output } = await runScript(
      "infra/token.ts",
      ["--revoke-token", "-XxfF9lIkbnWNG2u", "--url", `http://127.0.0.1:${port}`],
      {
        AUTH_SIGNING_KEY: KEY,
      },
    );
    expect(code, output).toBe(2);
    expect(output).toMatch(/auth\/revoke could not be reached/); // it went as far as asking the server
    expect(output).not.toContain("needs a value");
  });

  it("answers --help, and refuses an unknown option in one line", async () => {
    const help = await runScript("infra/token.ts", ["--help"]);
    expect(help.code).toBe(0);
    expect(help.output).toContain("usage: npm run token");
    expect(help.output).toContain("AUTH_SIGNING_KEY");
    const bad = await runScript("infra/token.ts", ["--no-such-option"]);
    expect(bad.output.trim().split("\n")).toEqual(["✗ Unknown option '--no-such-option' (npm run token -- --help lists the options)"]);
  });

  it("refuses a bad lifetime or user name, and more than one action", async () => {
    for (const args of [
      ["--user", "alice", "--expires", "1y"],
      ["--user", "alice", "--expires", "1826d"], // past five years: a typo, not a grant
      ["--user", "../alice"],
      ["--user", "alice", "--revoke", "bob"],
    ]) {
      const { code, output } = await runScript("infra/token.ts", [...args, "--url", "https://pkg.example.org"], { AUTH_SIGNING_KEY: KEY });
      expect(code, args.join(" ")).toBe(2);
      expect(output).toMatch(/^✗ /);
    }
  });
});
