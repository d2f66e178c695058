/**
 * The Pkg protocol's path grammar (protocol.md §2), as plain functions over strings.
 *
 * Paths are matched exactly as they arrive, never decoded or normalised: the client only ever
 * sends lowercase hex, so anything else (upper case, percent-encoding, trailing slashes,
 * suffixes, `..`) is simply not a resource and gets a 404 without touching the bucket or upstream.
 */

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SHA1 = "[0-9a-f]{40}";

const RE_REGISTRY = new RegExp(`^/registry/(${UUID})/(${SHA1})$`);
const RE_PACKAGE = new RegExp(`^/package/(${UUID})/(${SHA1})$`);
const RE_ARTIFACT = new RegExp(`^/artifact/(${SHA1})$`);
/** One line of a `/registries*` body. */
const RE_REGISTRY_LINE = new RegExp(`^/registry/(${UUID})/(${SHA1})$`);

export type ResourceKind = "registry" | "package" | "artifact";

/** A content-addressed resource: immutable, named by the git tree hash of its unpacked contents. */
export interface Resource {
  kind: ResourceKind;
  /** The URL path without its leading slash; also the bucket key. */
  key: string;
  /** The git tree hash the contents must have. */
  treeHash: string;
  /** The registry or package UUID (absent for artifacts). */
  uuid?: string;
}

export function parseResourcePath(path: string): Resource | null {
  let m = RE_PACKAGE.exec(path);
  if (m) return { kind: "package", key: path.slice(1), uuid: m[1], treeHash: m[2]! };
  m = RE_ARTIFACT.exec(path);
  if (m) return { kind: "artifact", key: path.slice(1), treeHash: m[1]! };
  m = RE_REGISTRY.exec(path);
  if (m) return { kind: "registry", key: path.slice(1), uuid: m[1], treeHash: m[2]! };
  return null;
}

/** A registry as one `/registries*` line names it. */
export interface RegistryRef {
  uuid: string;
  treeHash: string;
}

export function registryPath(ref: RegistryRef): string {
  return `/registry/${ref.uuid}/${ref.treeHash}`;
}

/**
 * Parses a `/registries*` body. Lines that are not exactly a registry line are dropped: Pkg
 * aborts on a line that matches its loose pattern but holds an invalid UUID or hash (protocol.md §8.3),
 * so nothing we did not validate may ever be republished.
 */
export function parseRegistryList(body: string): RegistryRef[] {
  const refs: RegistryRef[] = [];
  for (const raw of body.split("\n")) {
    const m = RE_REGISTRY_LINE.exec(raw.trim());
    if (m) refs.push({ uuid: m[1]!, treeHash: m[2]! });
  }
  return refs;
}

/** The body of a `/registries*` response: one line per registry, sorted by UUID (as the reference does). */
export function formatRegistryList(refs: readonly RegistryRef[]): string {
  return [...refs]
    .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
    .map((r) => registryPath(r) + "\n")
    .join("");
}
