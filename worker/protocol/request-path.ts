/**
 * The path a request names, as sent: never decoded or normalised, so only the exact grammar of
 * protocol.md §2 reaches the bucket or upstream.
 */

import { FLAVORS } from "./flavors";
import { parseResourcePath } from "./paths";

/** The path as sent, without query or fragment. */
export function sentPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** `path` minus the mount prefix ("" for none); a path outside the prefix becomes "//", which matches no route. */
export function withoutMountPrefix(path: string, prefix: string): string {
  if (prefix === "") return path;
  if (path === prefix) return "/";
  return path.startsWith(prefix + "/") ? path.slice(prefix.length) : "//";
}

/** A path the Pkg protocol defines: the registry lists and the content-addressed resources. */
export function isProtocolPath(path: string): boolean {
  return path === "/registries" || FLAVORS.some((f) => path === `/registries.${f}`) || parseResourcePath(path) !== null;
}
