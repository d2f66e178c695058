/** Loopback hosts, which Pkg itself lets speak plain http: nothing on the way can tamper with them (or read a secret sent there). */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
