/**
 * `npm run infra:prefetch -- --registry <hash|latest> [--since <hash>] [--packages N] …`: seeds a
 * mirror's bucket through the running worker. Reads the registry snapshot (and `--since`'s, to
 * take only what is new), then asks the worker for every package version the bucket lacks (HEAD
 * first: X-Cache HIT means it is there), so each is filled through the worker's own verified,
 * single-flight path. With `--artifacts` it also reads each package's Artifacts.toml and fills the
 * artifacts it names. Rate-limited, `--concurrency` at once, resumable (a state file remembers
 * what is done), with a progress line and a summary of failures. Exit 1 if anything failed.
 *
 * With `--to-endpoint`/`--to-bucket` it fills an S3-compatible bucket directly instead (no worker:
 * for a bucket a mirror will use): each tarball is downloaded from `--upstream` to a temporary
 * file, its git tree hash checked as pkgedge checks a fill, and only then uploaded.
 */

import { describeFailure } from "./lib/failure.ts";
import { existsSync, openAsBlob, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parseRegistryList, parseResourcePath, registryPath } from "../worker/protocol/paths.ts";
import { addedVersions, type ListedVersion } from "../worker/prefetch/snapshot.ts";
import { artifactsOf, chooseArtifacts } from "../worker/prefetch/artifacts.ts";
import { parseCommand } from "./cli.ts";
import { bucketNameOf, endpointOf } from "./lib/validate.ts";
import { s3Client } from "./s3-client.ts";
import { workerVerifyLimits } from "./lib/tarball.ts";
import { scratchDirectory, spool, uploadVerified } from "./lib/verified-upload.ts";

const { values } = parseCommand({
  usage: "npm run infra:prefetch -- --registry <hash|latest> [options]",
  options: {
    url: { type: "string" },
    upstream: { type: "string" },
    "to-endpoint": { type: "string" },
    "to-bucket": { type: "string" },
    region: { type: "string", default: "auto" },
    "virtual-host": { type: "boolean", default: false },
    registry: { type: "string" },
    uuid: { type: "string" },
    since: { type: "string" },
    packages: { type: "string" },
    artifacts: { type: "boolean" },
    platforms: { type: "string" },
    concurrency: { type: "string" },
    rate: { type: "string" },
    state: { type: "string" },
  },
  help: [
    "--url URL          the mirror (default $PKGEDGE_URL, else http://127.0.0.1:8787)",
    "--to-endpoint URL, --to-bucket NAME   fill this S3-compatible bucket directly instead (verified)",
    "--upstream URL     with --to-bucket: the storage server to download from",
    "--region R, --virtual-host            with --to-bucket: SigV4 region (default auto), addressing",
    "--registry HASH    the snapshot to walk, or `latest` (the first line of /registries.eager)",
    "--uuid UUID        the registry (default: the one /registries.eager lists first)",
    "--since HASH       only what HASH's snapshot does not list already",
    "--packages N       at most N package versions (a trial run)",
    "--artifacts        also the artifacts each package's Artifacts.toml names",
    "--platforms LIST   with --artifacts: platform triples, comma-separated (default: all)",
    "--concurrency N    requests at once (default 4)",
    "--rate N           new requests per second at most (default 10)",
    "--state FILE       progress file, to resume (default .prefetch-<hash>.json)",
  ],
  environment: ["PKGEDGE_URL      the mirror, when --url is not given", "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY   with --to-bucket"],
  example: "npm run infra:prefetch -- --url https://pkg.example.org --registry latest --since 0123abcd… --artifacts",
});

function fail(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(2);
}

const count = (name: "concurrency" | "rate" | "packages", fallback: number, max: number): number => {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) fail(`--${name} expects a whole number from 1 to ${max}, got ${raw}`);
  return Number(raw);
};

const direct = values["to-bucket"] !== undefined || values["to-endpoint"] !== undefined;
if (direct && !values.upstream) fail("--to-bucket fills a bucket without a worker: --upstream names the storage server to download from");
/** The bucket to fill directly, checked before anything is fetched. */
const bucketOptions = direct
  ? (() => {
      const accessKeyId = process.env.S3_ACCESS_KEY_ID;
      const secretAccessKey = process.env.S3_SECRET_ACCESS_KEY;
      if (!values["to-endpoint"] || !values["to-bucket"]) fail("--to-endpoint and --to-bucket go together");
      if (!accessKeyId || !secretAccessKey) fail("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set for --to-bucket");
      return {
        endpoint: endpointOf("--to-endpoint", values["to-endpoint"]),
        bucket: bucketNameOf("--to-bucket", values["to-bucket"]),
        region: values.region,
        virtualHost: values["virtual-host"],
        accessKeyId,
        secretAccessKey,
      };
    })()
  : null;
const base = (direct ? values.upstream! : (values.url ?? process.env.PKGEDGE_URL ?? "http://127.0.0.1:8787")).replace(/\/+$/, "");
if (!/^https?:\/\//.test(base)) fail(`${direct ? "--upstream" : "--url"} expects an http(s) URL, got ${base}`);
// The worker's verifier limits, as the operator's environment sets them (a bad value stops here).
const limits = (() => {
  try {
    return workerVerifyLimits();
  } catch (err) {
    return fail(describeFailure(err));
  }
})();
if (!values.registry) fail("--registry is required: a tree hash, or latest (npm run infra:prefetch -- --help)");
const HASH = /^[0-9a-f]{40}$/;
if (values.registry !== "latest" && !HASH.test(values.registry))
  fail(`--registry expects a 40-digit tree hash or latest, got ${values.registry}`);
if (values.since !== undefined && !HASH.test(values.since)) fail(`--since expects a 40-digit tree hash, got ${values.since}`);
const concurrency = count("concurrency", 4, 64);
const rate = count("rate", 10, 1000);
const limit = values.packages === undefined ? Number.POSITIVE_INFINITY : count("packages", 0, 10_000_000);
const platforms = (values.platforms ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "");

const headers = { "User-Agent": "pkgedge-infra-prefetch", "Julia-Pkg-Protocol": "1.0" };

async function get(path: string): Promise<Response> {
  const res = await fetch(base + path, { headers });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`GET ${path}: HTTP ${res.status}`);
  }
  return res;
}

/** The registry and snapshot to walk: as given, or the newest the mirror publishes. */
async function resolveSnapshot(): Promise<{ uuid: string; hash: string }> {
  const lists = await fetch(`${base}/registries.eager`, { headers });
  const listed = parseRegistryList(await (lists.status === 200 ? lists : await get("/registries")).text());
  const ref = values.uuid ? listed.find((r) => r.uuid === values.uuid) : listed[0];
  const uuid = values.uuid ?? ref?.uuid;
  if (!uuid) throw new Error("the mirror publishes no registry (and --uuid was not given)");
  return { uuid, hash: values.registry === "latest" ? (ref?.treeHash ?? fail(`the mirror does not publish ${uuid}`)) : values.registry! };
}

interface State {
  registry: string;
  since: string | null;
  done: string[];
  failed: Record<string, string>;
}

function loadState(file: string, registry: string): State {
  if (!existsSync(file)) return { registry, since: values.since ?? null, done: [], failed: {} };
  const state = JSON.parse(readFileSync(file, "utf8")) as State;
  if (state.registry !== registry) fail(`${file} is the progress of ${state.registry}, not ${registry}: remove it or pass --state`);
  return { ...state, failed: {} }; // failures are tried again
}

function saveState(file: string, state: State): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
}

/** A token bucket: at most `rate` starts per second. */
function pacer(perSecond: number): () => Promise<void> {
  let next = 0;
  return async () => {
    const now = Date.now();
    const at = Math.max(now, next);
    next = at + 1000 / perSecond;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  };
}

const { uuid, hash } = await resolveSnapshot();
const registry = registryPath({ uuid, treeHash: hash });
const stateFile = values.state ?? `.prefetch-${hash}.json`;
const state = loadState(stateFile, registry);
const done = new Set(state.done);

console.log(
  `walking ${registry}${values.since ? ` (what ${values.since.slice(0, 8)}… does not list)` : ""} ` +
    (direct ? `from ${base} into bucket ${values["to-bucket"]}` : `through ${base}`),
);
const next = (await get(registry)).body!;
const since = values.since ? (await get(registryPath({ uuid, treeHash: values.since }))).body! : null;
const { added, cost } = await addedVersions(since, next);
const versions: ListedVersion[] = added.slice(0, limit);
console.log(`${versions.length} package versions to check (${cost.nextVersions} listed; read in ${cost.ms} ms); ${done.size} done before`);

const summary = { filled: 0, present: 0, failed: 0, artifacts: 0 };
const queue: { path: string; label: string }[] = versions.map((v) => ({
  path: `/package/${v.uuid}/${v.treeHash}`,
  label: `${v.name}@${v.version}`,
}));
const tty = process.stderr.isTTY;
let finished = 0;
const progress = () => {
  const total = queue.length;
  const line = `${finished}/${total} · filled ${summary.filled} · already there ${summary.present} · failed ${summary.failed}`;
  if (tty) process.stderr.write(`\r${"█".repeat(Math.round((finished / Math.max(1, total)) * 30)).padEnd(30, "░")} ${line}`);
  else if (finished % 100 === 0 || finished === total) console.log(line);
};

/** Where items go: through the mirror (it fills and verifies), or straight into a bucket (verified here). */
type Inspect = (bytes: ReadableStream<Uint8Array>) => Promise<void>;

interface Target {
  /** Already there. */
  has(path: string): Promise<boolean>;
  /** Fills it, handing its bytes as they stream (or from disk) to `inspect` when given (to find its artifacts). */
  fill(path: string, inspect?: Inspect): Promise<void>;
}

const throughMirror: Target = {
  async has(path) {
    const head = await fetch(base + path, { method: "HEAD", headers });
    return head.status === 200 && head.headers.get("x-cache") === "HIT";
  },
  async fill(path, inspect) {
    const res = await get(path);
    // Read to the end either way: the fill is committed once its last byte has been checked.
    if (inspect) return inspect(res.body!);
    for await (const _ of res.body!) {
      // draining
    }
  },
};

function intoBucket(s3: S3Client, bucket: string): Target {
  const scratch = scratchDirectory("pkgedge-prefetch-");
  return {
    async has(path) {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: path.slice(1) })).catch(() => null)) !== null;
    },
    async fill(path, inspect) {
      const resource = parseResourcePath(path)!;
      // Named for the whole key: two packages may share a tree, and fills run side by side.
      const file = join(scratch, path.slice(1).replaceAll("/", "_"));
      try {
        const res = await get(path);
        // fetch decodes a Content-Encoding itself, and then the declared length is not the body's.
        const declared = res.headers.has("content-encoding") ? null : res.headers.get("content-length");
        await spool(res.body!, file);
        const stored = await uploadVerified({
          s3,
          bucket,
          key: path.slice(1),
          file,
          resource,
          expectedBytes: declared === null ? undefined : Number(declared),
          contentType: "application/x-gzip",
          limits,
        });
        if (!stored.ok) throw new Error(`not stored: ${stored.reason}`);
        // Read back from disk before the file goes, never held in memory.
        if (inspect) await inspect((await openAsBlob(file)).stream());
      } finally {
        rmSync(file, { force: true });
      }
    },
  };
}

const target = bucketOptions ? intoBucket(s3Client(bucketOptions), bucketOptions.bucket) : throughMirror;

/** One item: already there is done; else filled, and a package's artifacts queued when asked. */
async function visit(item: { path: string; label: string }): Promise<void> {
  const isPackage = item.path.startsWith("/package/");
  const wantArtifacts = isPackage && values.artifacts === true;
  const there = await target.has(item.path);
  if (there && !wantArtifacts) {
    summary.present++;
    return;
  }
  const inspect = wantArtifacts ? (bytes: ReadableStream<Uint8Array>) => queueArtifacts(item, bytes) : undefined;
  if (there) {
    // Its artifacts are still wanted: read it (from the mirror, a hit; or upstream, unstored).
    if (direct) await queueArtifacts(item, (await get(item.path)).body!);
    else await target.fill(item.path, inspect);
    summary.present++;
    return;
  }
  await target.fill(item.path, inspect);
  summary.filled++;
}

async function queueArtifacts(item: { path: string; label: string }, body: ReadableStream<Uint8Array>): Promise<void> {
  const found = chooseArtifacts(await artifactsOf(body), platforms, true);
  for (const a of found) {
    const path = `/artifact/${a.treeHash}`;
    if (!done.has(path) && !queue.some((q) => q.path === path)) queue.push({ path, label: `${item.label} ${a.name}` });
  }
  summary.artifacts += found.length;
}

const pace = pacer(rate);
let cursor = 0;
let sinceSave = 0;
async function worker(): Promise<void> {
  while (cursor < queue.length) {
    const item = queue[cursor++]!;
    if (done.has(item.path)) {
      finished++;
      continue;
    }
    await pace();
    try {
      await visit(item);
      done.add(item.path);
    } catch (err) {
      summary.failed++;
      state.failed[item.path] = `${item.label}: ${describeFailure(err)}`;
    }
    finished++;
    progress();
    if (++sinceSave >= 20) {
      sinceSave = 0;
      saveState(stateFile, { ...state, done: [...done] });
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
saveState(stateFile, { ...state, done: [...done] });
if (tty) process.stderr.write("\n");
console.log(
  `done: ${summary.filled} filled, ${summary.present} already in the bucket, ${summary.failed} failed` +
    (values.artifacts ? ` (${summary.artifacts} artifacts named)` : "") +
    `; progress kept in ${stateFile}`,
);
for (const reason of Object.values(state.failed)) console.log(`  ✗ ${reason}`);
process.exit(summary.failed > 0 ? 1 : 0);
