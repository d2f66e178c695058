/**
 * Pieces of pkgedge alone, inside workerd, for `npm run bench` (references for the whole):
 *   GET /verify?url=U&form=push   the verifier, fed chunk by chunk as the fill's commit gate feeds it
 *   GET /verify?url=U&form=piped  the verifier, the compressed stream piped natively (treeHashOfTarGz)
 *   GET /r2-put?url=U&part=N      U's body written straight into the bucket: one put, or multipart
 *                                 with N-byte parts (the bucket's own write speed, nothing else)
 *   GET /floor?size=N             N bytes from memory: the runtime floor for small responses
 *   GET /naive-get?key=K[&log=1]  one bucket get, obj.body returned: the runtime floor for warm reads
 *                                 (log=1: and one JSON line of an access log's size logged)
 *   GET /naive-s3?endpoint=E&bucket=B&key=K
 *                                 one signed GET to an S3 server (the test server's fixed credentials),
 *                                 its body returned: the floor for warm reads from an S3 bucket
 *   GET /pass?url=U               U's body returned as it is: the memory floor for streaming a download
 *   GET /read?url=U               U's body read in JS into one reused 64 KiB buffer, and dropped: the
 *                                 floor under anything that looks at a fill's bytes
 *   GET /inflate?url=U&feed=F&sink=S  U's body gunzipped, fed natively (F=pipe), from JS in 64 KiB
 *                                 batches (js: as the verifier feeds it) or by pako in the isolate
 *                                 (pako: ./gunzip.ts); the output dropped (S=drop) or read by the tar
 *                                 reader without hashing (tar)
 *   GET /pass-js?url=U            the same through a JS TransformStream that copies each chunk: what
 *                                 merely touching every chunk in JS costs
 *   GET /diff?url=BASE&next=NEXT  the prefetch diff of two registry snapshots (what the queue consumer runs)
 *   GET /content-order?url=PUBLISHED&next=CANDIDATE  how the refresh orders two snapshots by content
 */
import { createTarGzHasher, treeHashOfTarGz, type TreeHashes } from "../../worker/verify/verify";
import { partsOf } from "../../worker/store/parts";
import { Batch, ChunkReader } from "../../worker/streams/bytes";
import { TarReader } from "../../worker/verify/tar";
import { Gunzip } from "./gunzip";
import { addedVersions } from "../../worker/prefetch/snapshot";
import { compareSnapshotsByContent } from "../../worker/registries/content-order";
import { AwsClient } from "aws4fetch";

interface BenchEnv {
  BUCKET: R2Bucket;
}

async function r2Put(bucket: R2Bucket, body: ReadableStream<Uint8Array>, partBytes: number): Promise<{ key: string; size: number }> {
  const key = `bench/${crypto.randomUUID()}`;
  if (partBytes === 0) {
    const obj = await bucket.put(key, body);
    return { key, size: obj!.size };
  }
  const upload = await bucket.createMultipartUpload(key);
  const parts: R2UploadedPart[] = [];
  for await (const part of partsOf(body, partBytes)) parts.push(await upload.uploadPart(parts.length + 1, part));
  return { key, size: (await upload.complete(parts)).size };
}

/** Fed as the fill feeds it: the body read into one reused buffer, each chunk written to the hasher. */
async function pushed(body: ReadableStream<Uint8Array>): Promise<TreeHashes> {
  const hasher = createTarGzHasher();
  const reader = new ChunkReader(body);
  for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
    const pending = hasher.write(chunk);
    if (pending) await pending;
  }
  return hasher.finish();
}

/**
 * The verifier's first stages alone, for the memory bench: gunzip fed natively (`pipe`), from JS in
 * 64 KiB batches as the verifier feeds it (`js`), or in the isolate (`pako`); the output dropped
 * (`drop`) or read by the tar reader without hashing (`tar`).
 */
async function inflateOnly(body: ReadableStream<Uint8Array>, feed: string, sink: string): Promise<{ out: number }> {
  const tar = sink === "tar" ? new TarReader({ entry() {}, data() {}, entryEnd() {} }) : null;
  let out = 0;
  const take = (bytes: Uint8Array) => {
    out += bytes.byteLength;
    return tar?.push(bytes);
  };
  if (feed === "pako") {
    const inflater = new Gunzip();
    const reader = new ChunkReader(body);
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) await inflater.write(chunk, take);
    inflater.finish();
    return { out };
  }
  const gunzip = new DecompressionStream("gzip");
  const fed = feed === "pipe" ? body.pipeTo(gunzip.writable) : feedInBatches(body, gunzip.writable);
  const reader = new ChunkReader(gunzip.readable);
  for (let chunk = await reader.read(); chunk; chunk = await reader.read()) await take(chunk);
  await fed;
  return { out };
}

async function feedInBatches(body: ReadableStream<Uint8Array>, into: WritableStream<Uint8Array>): Promise<void> {
  const writer = into.getWriter();
  const reader = new ChunkReader(body);
  const batch = new Batch(64 * 1024);
  for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
    for (let offset = 0; offset < chunk.byteLength; ) {
      offset = batch.take(chunk, offset);
      if (batch.full) await writer.write(batch.drain());
    }
  }
  if (!batch.empty) await writer.write(batch.drain());
  await writer.close();
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const { pathname, searchParams } = new URL(request.url);
    if (pathname === "/floor") {
      const size = Number(searchParams.get("size") ?? 0);
      return new Response(new Uint8Array(size).fill(0x1f), { headers: { "content-type": "application/x-gzip" } });
    }
    if (pathname === "/naive-get") {
      const obj = await env.BUCKET.get(searchParams.get("key") ?? "");
      if (!obj) return new Response("no such object", { status: 404 });
      // With log=1, one JSON line per request of an access log's size: what logging alone costs.
      if (searchParams.has("log"))
        console.log(
          JSON.stringify({ level: "info", event: "request", path: pathname, key: obj.key, size: obj.size, pad: "x".repeat(600) }),
        );
      return new Response(obj.body, { headers: { "content-type": "application/x-gzip", "content-length": String(obj.size) } });
    }
    if (pathname === "/naive-s3") {
      const client = new AwsClient({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER", service: "s3", region: "us-east-1" });
      const res = await client.fetch(`${searchParams.get("endpoint")}/${searchParams.get("bucket")}/${searchParams.get("key")}`);
      return new Response(res.body, { status: res.status, headers: { "content-type": "application/x-gzip" } });
    }
    const url = searchParams.get("url");
    if (!url) return new Response("pkgedge benchmark worker: /verify?url=U&form=push|piped, /r2-put?url=U&part=N\n"); // also the readiness probe
    const upstream = await fetch(url);
    if (!upstream.body) return new Response("no body", { status: 502 });
    if (pathname === "/pass") return new Response(upstream.body, { headers: { "content-type": "application/x-gzip" } });
    if (pathname === "/pass-js") {
      const copy = new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, c) => c.enqueue(chunk.slice()) });
      return new Response(upstream.body.pipeThrough(copy), { headers: { "content-type": "application/x-gzip" } });
    }
    if (pathname === "/diff") {
      const next = await fetch(searchParams.get("next") ?? "");
      const { added, cost } = await addedVersions(upstream.body, next.body!);
      return Response.json({ added: added.length, baseVersions: cost.baseVersions, nextVersions: cost.nextVersions });
    }
    if (pathname === "/content-order") {
      const next = await fetch(searchParams.get("next") ?? "");
      return Response.json({ order: await compareSnapshotsByContent(upstream.body, next.body!) });
    }
    if (pathname === "/read") {
      const reader = new ChunkReader(upstream.body, Number(searchParams.get("buf") ?? 65536));
      let out = 0;
      for (let chunk = await reader.read(); chunk; chunk = await reader.read()) out += chunk.byteLength;
      return Response.json({ out });
    }
    if (pathname === "/inflate")
      return Response.json(await inflateOnly(upstream.body, searchParams.get("feed") ?? "pipe", searchParams.get("sink") ?? "drop"));
    if (pathname === "/r2-put") return Response.json(await r2Put(env.BUCKET, upstream.body, Number(searchParams.get("part") ?? 0)));
    const hashes = searchParams.get("form") === "piped" ? await treeHashOfTarGz(upstream.body) : await pushed(upstream.body);
    return Response.json(hashes);
  },
} satisfies ExportedHandler<BenchEnv>;
