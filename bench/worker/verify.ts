/**
 * The verifier alone, inside workerd, for `npm run bench`. No bucket, no Hono: just the verifier.
 *   GET /verify?url=U&form=push   bytes fed chunk by chunk as the fill's commit gate feeds them
 *   GET /verify?url=U&form=piped  the compressed stream piped natively (treeHashOfTarGz)
 */
import { createTarGzHasher, treeHashOfTarGz, type TreeHashes } from "../../worker/verify/verify";

async function pushed(body: ReadableStream<Uint8Array>): Promise<TreeHashes> {
  const hasher = createTarGzHasher();
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const pending = hasher.write(value);
    if (pending) await pending;
  }
  return hasher.finish();
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname, searchParams } = new URL(request.url);
    if (pathname !== "/verify") return new Response("pkgedge verifier benchmark: GET /verify?url=U&form=push|piped\n"); // also the readiness probe
    const url = searchParams.get("url");
    if (!url) return new Response("missing ?url=", { status: 400 });
    const upstream = await fetch(url);
    if (!upstream.body) return new Response("no body", { status: 502 });
    const hashes = searchParams.get("form") === "piped" ? await treeHashOfTarGz(upstream.body) : await pushed(upstream.body);
    return Response.json(hashes);
  },
} satisfies ExportedHandler;
