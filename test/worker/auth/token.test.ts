/**
 * pkgedge's signed tokens as pure functions: the constant-time comparison itself, signatures under
 * another key, types, expiry, tampering; and the AUTH* configuration.
 */

import { describe, expect, it } from "vitest";
import { ConfigError, configSummary, parseConfig, parseSecrets } from "../../../worker/config";
import {
  bearerToken,
  constantTimeEqual,
  issueToken,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_GRANT_SECONDS,
  parseLifetime,
  sign,
  verifyToken,
  type TokenPayload,
} from "../../../worker/auth/token";

const KEY = "k".repeat(32);
const OTHER = "o".repeat(32);
const NOW = 1_800_000_000;

describe("constantTimeEqual", () => {
  it("is true only for equal bytes, and looks at every byte whatever differs first", () => {
    const a = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(constantTimeEqual(a, a.slice())).toBe(true);
    for (const at of [0, 15, 31]) {
      const b = a.slice();
      b[at]! ^= 1;
      expect(constantTimeEqual(a, b), `differs at ${at}`).toBe(false);
    }
    expect(constantTimeEqual(a, a.subarray(0, 31))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    // Every index is read, even after the first difference: a proxy that counts reads shows it.
    let reads = 0;
    const counting = (bytes: Uint8Array) =>
      new Proxy(bytes, {
        get(target, prop) {
          if (typeof prop === "string" && /^\d+$/.test(prop)) reads++;
          const value = Reflect.get(target, prop, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const c = a.slice();
    c[0] = 255;
    reads = 0;
    constantTimeEqual(counting(a), counting(c));
    const early = reads;
    const d = a.slice();
    d[31] = 255;
    reads = 0;
    constantTimeEqual(counting(a), counting(d));
    expect(early).toBe(64);
    expect(reads).toBe(64);
  });
});

describe("tokens", () => {
  it("verify under their key, for their type, before they expire", async () => {
    const { token, payload } = await issueToken(KEY, "alice", "access", 3600, NOW);
    expect(token).toMatch(/^pkgedge1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await verifyToken(KEY, token, "access", NOW + 10)).toEqual({ ok: true, payload });
    expect(payload).toMatchObject({ sub: "alice", typ: "access", iat: NOW, exp: NOW + 3600 });
  });

  it("are refused when expired, of another type, signed with another key, or altered", async () => {
    const { token } = await issueToken(KEY, "alice", "access", 3600, NOW);
    expect(await verifyToken(KEY, token, "access", NOW + 3600)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyToken(KEY, token, "refresh", NOW)).toEqual({ ok: false, reason: "wrong-type" });
    const refresh = (await issueToken(KEY, "alice", "refresh", 3600, NOW)).token;
    expect(await verifyToken(KEY, refresh, "access", NOW)).toEqual({ ok: false, reason: "wrong-type" });
    expect(await verifyToken(OTHER, token, "access", NOW)).toEqual({ ok: false, reason: "signature" });
    // The same payload claiming admin, with the old signature: the signature no longer holds.
    const [prefix, body, mac] = token.split(".");
    const claims = JSON.parse(atob(body!.replace(/-/g, "+").replace(/_/g, "/")));
    const forged = btoa(JSON.stringify({ ...claims, typ: "admin" }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    expect(await verifyToken(KEY, `${prefix}.${forged}.${mac}`, "admin", NOW)).toEqual({ ok: false, reason: "signature" });
    for (const bad of ["", "pkgedge1..", "x.y.z", `${token}.x`, token.replace("pkgedge1", "pkgedge2"), `${prefix}.${body}.***`])
      expect((await verifyToken(KEY, bad, "access", NOW)).ok, bad).toBe(false);
  });

  it("refuse a well-signed payload that is not a token's (no subject, fractional times)", async () => {
    const bad = await sign(KEY, { sub: "", typ: "access", iat: NOW, exp: NOW + 1.5, jti: "abcdefgh", gid: "abcdefgh", giat: NOW });
    expect(await verifyToken(KEY, bad, "access", NOW)).toEqual({ ok: false, reason: "malformed" });
    // A grant cannot start after the token that continues it.
    const later = await sign(KEY, {
      sub: "alice",
      typ: "access",
      iat: NOW,
      exp: NOW + 60,
      jti: "abcdefgh",
      gid: "abcdefgh",
      giat: NOW + 1,
    });
    expect(await verifyToken(KEY, later, "access", NOW)).toEqual({ ok: false, reason: "malformed" });
  });

  it("read a token issued before grants were recorded as a grant of its own", async () => {
    const old = await sign(KEY, { sub: "alice", typ: "access", iat: NOW, exp: NOW + 60, jti: "abcdefgh" } as TokenPayload);
    const check = await verifyToken(KEY, old, "access", NOW);
    expect(check.ok && check.payload).toMatchObject({ gid: "abcdefgh", giat: NOW });
  });

  it("refuse a token issued further ahead of this server's clock than MAX_CLOCK_SKEW_SECONDS", async () => {
    const ahead = (s: number) => issueToken(KEY, "alice", "access", 3600, NOW + s);
    expect((await verifyToken(KEY, (await ahead(MAX_CLOCK_SKEW_SECONDS)).token, "access", NOW)).ok).toBe(true);
    expect(await verifyToken(KEY, (await ahead(MAX_CLOCK_SKEW_SECONDS + 1)).token, "access", NOW)).toEqual({ ok: false, reason: "future" });
  });

  it("accept one spelling of a token only (a sibling spelling of the MAC's last character is not it)", async () => {
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const { token } = await issueToken(KEY, "alice", "access", 3600, NOW);
    const sibling = token.slice(0, -1) + B64[B64.indexOf(token.at(-1)!) ^ 1];
    expect(await verifyToken(KEY, sibling, "access", NOW)).toEqual({ ok: false, reason: "malformed" });
  });

  it("read the bearer header and operator lifetimes", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer  abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken(null)).toBeNull();
    expect(parseLifetime("90d")).toBe(90 * 86400);
    expect(parseLifetime("12h")).toBe(12 * 3600);
    expect(parseLifetime("300")).toBe(300);
    expect(parseLifetime("0d")).toBeNull();
    expect(parseLifetime("1y")).toBeNull();
    expect(parseLifetime(`${5 * 365}d`)).toBe(MAX_GRANT_SECONDS);
    expect(parseLifetime(`${5 * 365 + 1}d`)).toBeNull(); // a typo is not an eternal grant
    expect(parseLifetime("999999999d")).toBeNull();
  });
});

describe("AUTH configuration", () => {
  it("is off by default, with a day's access tokens and a minute's revocation list", () => {
    expect(parseConfig({}).auth).toEqual({ mode: "off", accessTtlSeconds: 86400, revocationTtlSeconds: 60, help: null });
  });

  it("needs AUTH_SIGNING_KEY of at least 32 characters when on, named in the error", () => {
    for (const vars of [{ AUTH: "protocol" }, { AUTH: "all", AUTH_SIGNING_KEY: "short" }]) {
      let err: unknown;
      try {
        parseConfig(vars);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe("AUTH_SIGNING_KEY");
      expect((err as ConfigError).message).not.toContain("short");
    }
    expect(parseConfig({ AUTH: "Protocol", AUTH_SIGNING_KEY: KEY, AUTH_HELP: "mail ops@example.org" }).auth).toMatchObject({
      mode: "protocol",
      help: "mail ops@example.org",
    });
  });

  it("shows the mode in the startup summary, and whether the key is set, never the key", () => {
    const vars = { AUTH: "all", AUTH_SIGNING_KEY: KEY };
    const summary = configSummary(parseConfig(vars), parseSecrets(vars), false);
    expect(summary.auth).toBe("all");
    expect((summary.secrets_set as Record<string, boolean>).auth_signing_key).toBe(true);
    expect(JSON.stringify(summary)).not.toContain(KEY);
  });

  it("names AUTH and the TTLs when they are out of bounds", () => {
    for (const [name, value] of [
      ["AUTH", "yes"],
      ["AUTH_ACCESS_TTL_SECONDS", "10"],
      ["AUTH_ACCESS_TTL_SECONDS", "600"], // Pkg would refresh it before every request
      ["AUTH_REVOCATION_TTL_SECONDS", "0"],
    ] as const) {
      expect(() => parseConfig({ [name]: value }), name).toThrow(ConfigError);
      try {
        parseConfig({ [name]: value });
      } catch (e) {
        expect((e as ConfigError).message).toContain(name);
      }
    }
  });
});
