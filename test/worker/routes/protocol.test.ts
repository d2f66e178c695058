import { describe, expect, inject, it, vi } from "vitest";
import { backend, bucketKeys, manifest, testWorker, upstream } from "../harness";
import { r2InOutage } from "../r2-outage";

const pkgPath = () => `/package/${manifest.example.uuid}/${manifest.example.versions["0.5.3"]}`;

describe("/registries redirect (protocol.md §3.1, C1–C5, C52)", () => {
  it.each([
    ["no headers (C1)", {}, "/registries.conservative"],
    ["CI variables with =t (C2)", { "Julia-CI-Variables": "APPVEYOR=n;CI=t;GITHUB_ACTIONS=t" }, "/registries.eager"],
    ["explicit eager (C3)", { "Julia-Registry-Preference": "eager" }, "/registries.eager"],
    [
      "explicit conservative beats CI (C4)",
      { "Julia-CI-Variables": "CI=t", "Julia-Registry-Preference": "conservative" },
      "/registries.conservative",
    ],
    ["only =t counts (C5)", { "Julia-CI-Variables": "CI=f;TRAVIS=n;JULIA_CI=o" }, "/registries.conservative"],
    ["a path as preference (C52)", { "Julia-Registry-Preference": "../../x" }, "/registries.conservative"],
  ])("%s", async (_, headers, location) => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    for (const method of ["GET", "HEAD"]) {
      const res = await m.fetch("/registries", { method, headers, redirect: "manual" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(location);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });
});

describe("bad input never reaches upstream or the bucket", () => {
  const hash = "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc";
  const uuid = "7876af07-990d-54b4-ab0e-23690620f79a";
  it.each([
    `/package/${uuid.toUpperCase()}/${hash}`,
    `/package/${uuid}/${hash.toUpperCase()}`,
    `/artifact/${hash.slice(1)}`,
    `/artifact/${hash}0`,
    `/package/${uuid}/${hash}/`,
    `/artifact/${hash}.tar.gz`,
    `/package%2F${uuid}%2F${hash}`,
    `/artifact/%34${hash.slice(1)}`,
    `//artifact/${hash}`,
    `/package//${uuid}/${hash}`,
    `/registries.bogus`,
    `/registries/`,
    `/registries.eager/`,
    `/docs`,
    `/meta/`,
    `/index.html`,
  ])("%s → 404", async (path) => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    for (const method of ["GET", "HEAD"]) {
      const res = await m.fetch(path, { method });
      expect(res.status).toBe(404);
    }
    await m.settle();
    expect(await up.log()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  });

  it("a path that URL parsing would resolve (`..`) is never served", async () => {
    // The runtime resolves dot segments before the worker sees the URL (as curl and Pkg do before
    // sending): what arrives is the resolved path, which is matched exactly like any other.
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(`/package/../robots.txt/..%2f..%2fartifact`);
    expect(res.status).toBe(404);
    expect(await up.log()).toEqual([]);
  });

  it.each(["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])("%s on a protocol route → 405 with Allow (C41)", async (method) => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    for (const path of [pkgPath(), "/registries", "/registries.eager", `/artifact/${manifest.objects[manifest.artifact]!.treeHash}`]) {
      const res = await m.fetch(path, { method, body: method === "POST" || method === "PUT" ? "x" : undefined });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
    expect((await m.fetch("/nothing-here", { method })).status).toBe(404);
    await m.settle();
    expect(await up.log()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  });

  it("ignores query strings (C33, E4)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch(`${pkgPath()}?foo=bar`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await m.settle();
    expect((await up.log()).map((r) => r.path)).toEqual([pkgPath()]); // one GET (one upstream: no probe), no query
  });
});

describe("every answer carries X-Content-Type-Options: nosniff", () => {
  it("protocol, operator and error answers alike", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    for (const path of ["/registries", "/registries.eager", pkgPath(), "/nothing/here", "/meta", "/robots.txt", "/"]) {
      const res = await m.fetch(path, { redirect: "manual" });
      await res.arrayBuffer();
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
    const refused = await m.fetch(pkgPath(), { method: "POST", body: "x" });
    expect(refused.status).toBe(405);
    expect(refused.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("operator routes", () => {
  it("serves robots.txt exactly (C39)", async () => {
    const m = testWorker({ UPSTREAM_SERVERS: (await upstream()).url });
    const res = await m.fetch("/robots.txt");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("User-agent: *\nDisallow: /\n");
  });

  it("serves /meta as JSON with version and upstreams (C37)", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url });
    const res = await m.fetch("/meta");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, any>;
    expect(body.pkgedge_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.pkgserver_url).toBe("http://pkgedge.test");
    expect(body.upstreams).toEqual([up.url]);
    expect(body.registries.eager.registries).toEqual([]);
    expect(body.registries.conservative.published_at).toBeNull();
    expect(body.binary_mirrors.map((b: { name: string }) => b.name)).toEqual(["julialang2", "julialangnightlies"]);
    expect(body.binary_mirror_ttl_seconds).toBe(600);
  });

  it("lists the binary mirrors in /meta as configured, under the mount prefix", async () => {
    const m = testWorker({ BINARY_MIRRORS: "rel=http://127.0.0.1:9/bucket", PATH_PREFIX: "/julia" });
    const body = (await (await m.fetch("/julia/meta")).json()) as Record<string, any>;
    expect(body.binary_mirrors).toEqual([{ name: "rel", upstream: "http://127.0.0.1:9/bucket", path: "/julia/mirror/rel/" }]);
  });
});

describe("misconfiguration answers every request with a 500 that names the variable", () => {
  it.each([
    ["UPSTREAM_SERVERS", ""],
    ["UPSTREAM_SERVERS", " , "],
    ["UPSTREAM_SERVERS", "ftp://127.0.0.1:1"],
    ["REGISTRY_TTL_SECONDS", "a minute"],
  ])("%s=%j", async (variable, value) => {
    const m = testWorker({ [variable]: value });
    for (const path of ["/registries", pkgPath(), "/meta", "/nothing"]) {
      const res = await m.fetch(path);
      expect(res.status).toBe(500);
      const body = (await res.json()) as { variable: string; message: string };
      expect(body.variable).toBe(variable);
      expect(body.message).toContain(variable);
    }
  });
});

describe("S3 configuration errors name the variable", () => {
  it.each(["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"])("a missing %s", async (secret) => {
    const m = testWorker({
      STORAGE: "s3",
      S3_ENDPOINT: "http://127.0.0.1:9",
      S3_BUCKET: "pkgedge",
      S3_ACCESS_KEY_ID: "id",
      S3_SECRET_ACCESS_KEY: "secret",
      [secret]: "",
    });
    const res = await m.fetch(pkgPath());
    expect(res.status).toBe(500);
    expect(((await res.json()) as { variable: string }).variable).toBe(secret);
  });

  it.skipIf(backend !== "s3")("credentials the bucket refuses answer a 500 that names them, and change nothing", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, S3_SECRET_ACCESS_KEY: "not-the-secret" });
    const res = await m.fetch(pkgPath());
    expect(res.status).toBe(500);
    const body = (await res.json()) as { variable: string };
    expect(body.variable).toContain("S3_SECRET_ACCESS_KEY");
    expect(await up.log()).toEqual([]); // refused before any fill
    await m.settle();
    expect(await bucketKeys()).toEqual([]);
  });
});

describe("mount prefix (PATH_PREFIX, protocol.md §2)", () => {
  it("serves the protocol under the prefix only", async () => {
    const up = await upstream();
    const m = testWorker({ UPSTREAM_SERVERS: up.url, PATH_PREFIX: "/julia" });
    const redirect = await m.fetch("/julia/registries", { redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("/julia/registries.conservative");
    const res = await m.fetch(`/julia${pkgPath()}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect((await m.fetch(pkgPath())).status).toBe(404);
    expect((await m.fetch(`/juliax${pkgPath()}`)).status).toBe(404);
    expect((await m.fetch("/julia/robots.txt")).status).toBe(200);
    await m.settle();
  });
});

describe("a misconfigured mirror lists every problem in one answer", () => {
  it("names the S3 settings and both secrets at once", async () => {
    const res = await testWorker({
      STORAGE: "s3",
      S3_ENDPOINT: "",
      S3_BUCKET: "",
      S3_ACCESS_KEY_ID: "",
      S3_SECRET_ACCESS_KEY: "",
      REGISTRY_TTL_SECONDS: "-5",
    }).fetch("/registries");
    expect(res.status).toBe(500);
    const body = (await res.json()) as { problems: { variable: string }[] };
    expect(body.problems.map((p) => p.variable).sort()).toEqual([
      "REGISTRY_TTL_SECONDS",
      "S3_ACCESS_KEY_ID",
      "S3_BUCKET",
      "S3_ENDPOINT",
      "S3_SECRET_ACCESS_KEY",
    ]);
  });
});

describe("a bucket that refuses or fails is named, whatever the backend", () => {
  it("answers 500 naming the credentials when the bucket refuses them", async () => {
    const s3 = inject("s3");
    const m = testWorker({
      STORAGE: "s3",
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: "pkgedge-refused",
      S3_REGION: "us-east-1",
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: "not-the-secret",
    });
    const res = await m.fetch(`/artifact/${"5".repeat(40)}`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: string; variable: string };
    expect(body.error).toContain("refused pkgedge's credentials");
    expect(body.variable).toBe("S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY");
  });

  // Once per backend, whichever project runs the file: each case names its own storage.
  const outages: [string, () => Record<string, unknown>][] = [
    ["r2", () => ({ STORAGE: "r2", BUCKET: r2InOutage() })],
    [
      "s3",
      () => {
        const s3 = inject("s3");
        const { controlUrl } = inject("manifest");
        return {
          STORAGE: "s3",
          S3_ENDPOINT: `${controlUrl}/hang`, // accepts the connection and never answers
          S3_BUCKET: "pkgedge",
          S3_REGION: "us-east-1",
          S3_FORCE_PATH_STYLE: "true",
          S3_ACCESS_KEY_ID: s3.accessKeyId,
          S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
          S3_TIMEOUT_MS: "300",
        };
      },
    ],
  ];

  it.skipIf(backend === "s3").each(outages)(
    "an outage of the %s bucket answers 503 with Retry-After, logged as such",
    async (name, vars) => {
      const up = await upstream();
      const m = testWorker({ UPSTREAM_SERVERS: up.url, ...vars() });
      const errors = vi.spyOn(console, "error");
      try {
        for (const init of [{}, { method: "HEAD" }, { headers: { range: "bytes=0-9" } }] as RequestInit[]) {
          const res = await m.fetch(pkgPath(), init);
          expect(res.status, JSON.stringify(init)).toBe(503);
          expect(res.headers.get("retry-after")).toBe("5");
          expect(res.headers.get("cache-control")).toBe("no-store");
          if (init.method !== "HEAD") {
            const body = (await res.json()) as { error: string; detail: string };
            expect(body.error).toBe("the bucket is unavailable");
            expect(body.detail).toMatch(name === "r2" ? /^R2 .*\(10001\)/ : /^S3 /);
            if (name === "r2") expect(JSON.stringify(body)).not.toContain("S3_"); // each backend its own words
          }
        }
        const events = errors.mock.calls.map((c) => JSON.parse(String(c[0])).event);
        expect(events).toContain("storage_unavailable");
        expect(events).not.toContain("unhandled");
      } finally {
        errors.mockRestore();
      }
      expect(await up.log()).toEqual([]); // an outage of the bucket is not a miss
      await m.settle();
    },
  );
});
