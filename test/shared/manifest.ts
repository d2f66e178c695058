/**
 * What the fixture builder made, shared by the Node-side harness and the tests inside workerd
 * (which receive it through vitest's provide/inject).
 */

export interface FixtureObject {
  /** Protocol path, e.g. `/package/<uuid>/<hash>`. */
  path: string;
  kind: "registry" | "package" | "artifact";
  /** The git tree hash (as git computes it: empty directories skipped). */
  treeHash: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  /** Base URL of the fixture server; `${controlUrl}/u/<name>` are upstreams. */
  controlUrl: string;
  registryUuid: string;
  /** Registry snapshots, oldest first: each is a registry tarball path. */
  snapshots: string[];
  example: { uuid: string; versions: Record<string, string> };
  helloJll: { uuid: string; version: string; treeHash: string };
  /** An artifact with an executable, a symlink and an empty directory. */
  artifact: string;
  /** An incompressible artifact of a few hundred KiB, for ranges and streaming. */
  bigArtifact: string;
  /** A well-formed, verifiable tarball whose name nothing refers to (for wrong-bytes faults). */
  objects: Record<string, FixtureObject>;
}

declare module "vitest" {
  export interface ProvidedContext {
    manifest: Manifest;
  }
}
