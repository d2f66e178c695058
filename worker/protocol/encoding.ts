/**
 * Which compression of a tarball a client asked for (protocol.md §4.4). Julia 1.13's Pkg sends
 * `Accept-Encoding: zstd, gzip` on tarball URLs and then sniffs the magic bytes of what it got, so
 * the header chooses between two bodies of the same resource (a representation, not an HTTP
 * content coding: neither answer carries Content-Encoding).
 *
 * Only a `zstd` listed by name with a non-zero q asks for zstd. `*` does not: a client that takes
 * "anything" (a proxy, a generic downloader) is given what every client has always been given.
 */

/** The q-value of one Accept-Encoding member (1 when absent, 0 when unreadable). */
function qualityOf(params: string[]): number {
  for (const param of params) {
    const [name, value] = param.split("=").map((s) => s.trim());
    if (name?.toLowerCase() !== "q") continue;
    if (value === undefined || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return 0;
    return Number(value);
  }
  return 1;
}

/** Whether the Accept-Encoding header lists `zstd` with a q above zero. */
export function acceptsZstd(header: string | null | undefined): boolean {
  if (!header) return false;
  for (const member of header.split(",")) {
    const [coding, ...params] = member.split(";");
    if (coding?.trim().toLowerCase() === "zstd") return qualityOf(params) > 0;
  }
  return false;
}

/**
 * The Accept-Encoding the client sent. Cloudflare's edge (and workerd under wrangler dev) replaces
 * the header a worker sees with the encodings it compresses responses with itself ("br, gzip"),
 * keeping the client's own value in `request.cf.clientAcceptEncoding` when it did.
 */
export function clientAcceptEncoding(request: Request): string | null {
  const cf = (request as { cf?: { clientAcceptEncoding?: unknown } }).cf;
  return typeof cf?.clientAcceptEncoding === "string" ? cf.clientAcceptEncoding : request.headers.get("accept-encoding");
}
