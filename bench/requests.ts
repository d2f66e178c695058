/**
 * `npm run bench -- requests`: what one request costs in billed bucket operations, for the cost
 * estimate in docs/operations.md. The worker runs under `wrangler dev` with STORAGE=s3 against the
 * local S3 server, through a counting proxy that classifies each S3 request the way R2 bills it
 * (Class A: writes and lists; Class B: reads and heads), beside the fixture upstream, whose GETs
 * and HEADs are counted too. Durable Object requests are not visible here: the table says which
 * coordinator calls a path makes, from the code (worker/routes/tarball.ts, worker/fill/).
 */

import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCatalogue } from "../test/fixtures/catalogue.ts";
import { startFixtureServer } from "../test/fixtures/upstream-server.ts";
import { s3StorageVars, startS3Server } from "../test/fixtures/s3-server.ts";
import { startWranglerDev } from "../test/fixtures/wrangler-dev.ts";
import { table } from "./lib.ts";

type Operation =
  | "PutObject"
  | "UploadPart"
  | "CreateMultipartUpload"
  | "CompleteMultipartUpload"
  | "List"
  | "Delete"
  | "GetObject"
  | "HeadObject"
  | "Other";
const CLASS_A = new Set<Operation>(["PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload", "List"]);
const CLASS_B = new Set<Operation>(["GetObject", "HeadObject"]);

/** Which S3 operation a request is, from its method and query (as R2's price list names them). */
function operationOf(method: string, url: URL): Operation {
  const q = url.searchParams;
  if (method === "PUT") return q.has("partNumber") ? "UploadPart" : "PutObject";
  if (method === "POST") return q.has("uploads") ? "CreateMultipartUpload" : q.has("uploadId") ? "CompleteMultipartUpload" : "Other";
  if (method === "DELETE") return "Delete";
  if (method === "HEAD") return "HeadObject";
  if (method === "GET") return q.has("list-type") || url.pathname.split("/").filter(Boolean).length <= 1 ? "List" : "GetObject";
  return "Other";
}

/** A proxy in front of the S3 server that counts what passes (bodies streamed through, headers kept: SigV4 signs the Host). */
async function countingProxy(target: string): Promise<{ url: string; counts: Map<Operation, number>; close(): Promise<void> }> {
  const to = new URL(target);
  const counts = new Map<Operation, number>();
  const server: Server = createServer((req, res) => {
    const op = operationOf(req.method ?? "GET", new URL(req.url ?? "/", "http://x"));
    counts.set(op, (counts.get(op) ?? 0) + 1);
    const out = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, counts, close: () => new Promise((r) => server.close(() => r())) };
}

export async function benchRequests(): Promise<void> {
  console.log("\n== requests: billed operations per request (S3 backend through a counting proxy, wrangler dev)");
  const work = mkdtempSync(join(tmpdir(), "pkgedge-bench-requests-"));
  const catalogue = buildCatalogue(join(work, "fixtures"));
  const fixture = await startFixtureServer(catalogue);
  const list = catalogue.lists.at(-1)!;
  const upstream = fixture.configure("requests", { lists: { eager: list, conservative: list } });
  const upstreamLog = `${fixture.url}/control/upstreams/requests/log`;
  const s3 = await startS3Server(join(work, "s3"));
  const proxy = await countingProxy(s3.info.endpoint);
  const vars = {
    UPSTREAM_SERVERS: upstream,
    ...s3StorageVars({ ...s3.info, endpoint: proxy.url }),
    PREFETCH: "off",
    BINARY_MIRRORS: "",
    ACCESS_LOG: "off",
  };
  const dev = await startWranglerDev({ vars, persistTo: join(work, "state") });
  const { example } = catalogue.manifest;
  const pkg = `/package/${example.uuid}/${Object.values(example.versions).at(-1)}`;
  const artifact = catalogue.manifest.bigArtifact;
  const upstreamRequests = async () => ((await (await fetch(upstreamLog)).json()) as unknown[]).length;
  const rows = [["request", "Class A", "Class B", "other S3", "upstream requests", "coordinator calls (from the code)"]];
  const measure = async (name: string, calls: string, run: () => Promise<void>) => {
    proxy.counts.clear();
    const before = await upstreamRequests();
    await run();
    await new Promise((r) => setTimeout(r, 1500)); // the bucket write after the answer
    let a = 0;
    let b = 0;
    let other = 0;
    for (const [op, n] of proxy.counts) {
      if (CLASS_A.has(op)) a += n;
      else if (CLASS_B.has(op)) b += n;
      else other += n;
    }
    rows.push([name, String(a), String(b), String(other), String((await upstreamRequests()) - before), calls]);
  };
  const get = async (path: string) => {
    const res = await fetch(dev.url + path, { headers: { "Julia-Pkg-Protocol": "1.0" } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
  };
  try {
    await measure("GET /registries, first (publishes, fills the registry)", "1 (commit)", () => get("/registries.conservative"));
    await measure("GET /registries, warm", "0", () => get("/registries.conservative"));
    await measure("GET a package, cold (verify-first)", "1 (streamVerified)", () => get(pkg));
    await measure("GET the same package, warm", "0", () => get(pkg));
    await measure("GET a 390 KB artifact, cold", "1 (stream)", () => get(artifact));
    await measure("GET the same artifact, warm", "0", () => get(artifact));
    await measure("a cron round, nothing new upstream", "0", async () => {
      const res = await fetch(`${dev.url}/cdn-cgi/handler/scheduled`);
      await res.arrayBuffer();
    });
    table(rows);
    console.log(
      "  (R2 bills Class A: PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload, List; Class B: GetObject, HeadObject.)",
    );
  } finally {
    await dev.stop();
    await proxy.close();
    await s3.close();
    await fixture.close();
    rmSync(work, { recursive: true, force: true });
  }
}
