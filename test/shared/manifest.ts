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

/** A tarball made by real tools, with the hashes git (or the spec) gives for its tree. */
export interface Vector {
  name: string;
  /** Served by the fixture server at /control/file?path=<path>. */
  path: string;
  skip: string;
  noSkip: string;
  size: number;
  /** Set when pkgedge refuses this archive on purpose: the reason it gives. */
  rejected?: string;
}

export interface Manifest {
  /** Base URL of the fixture server; `${controlUrl}/u/<name>` are upstreams. */
  controlUrl: string;
  registryUuid: string;
  /** Registry snapshots, oldest first (three): each is a registry tarball path. */
  snapshots: string[];
  example: { uuid: string; versions: Record<string, string> };
  helloJll: { uuid: string; version: string; treeHash: string };
  /** An artifact with an executable, a symlink and an empty directory. */
  artifact: string;
  /** An incompressible artifact of a few hundred KiB, for ranges and streaming. */
  bigArtifact: string;
  /** A 12 MiB incompressible artifact: large enough for several multipart parts. */
  largeArtifact: string;
  /** A 64 MiB incompressible artifact: a fill long enough to measure pacing against. */
  hugeArtifact: string;
  /** A well-formed, verifiable tarball whose name nothing refers to (for wrong-bytes faults). */
  objects: Record<string, FixtureObject>;
  /**
   * A snapshot (`next`) that adds, over `base` (snapshot 3), 50 versions of Seedling and
   * Hello_jll 1.1.0, whose Artifacts.toml names a Linux, a macOS and a lazy artifact.
   */
  prefetch: {
    base: string;
    next: string;
    /** The package paths `next` adds. */
    packages: string[];
    artifacts: { "x86_64-linux-gnu": string; "aarch64-apple-darwin": string; lazy: string };
  };
  vectors: Vector[];
}

/** The local S3-compatible server the tests start (it checks SigV4 signatures). */
export interface S3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The same S3 server behind a proxy that passes uploads on no faster than `bytesPerSecond` (and may cut connections). */
export interface SlowBucket {
  endpoint: string;
  /** Answers `{"passed": N, "dropped": M}`: bytes passed on to the S3 server, connections cut. */
  stats: string;
  bytesPerSecond: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    manifest: Manifest;
    s3: S3Server;
    slowS3: SlowBucket;
    /** Cuts the first attempt at every multipart upload's second part. */
    flakyS3: SlowBucket;
    /** Base URL of the fixture binary bucket's server (test/shared/binary-bucket.ts drives it). */
    binaryBucketUrl: string;
    /** A fake Analytics Engine SQL API (test/fixtures/analytics-sql.ts) with a day of points: 7 hits, 3 misses, 1 negative. */
    analyticsSql: { url: string; account: string; token: string };
    /** Which bucket backend this test project runs against. */
    storage: "r2" | "s3";
  }
}
