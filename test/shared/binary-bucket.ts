/**
 * Client for the fixture binary bucket's control API (test/fixtures/binary-bucket.ts), usable from
 * Node and from inside workerd: create a bucket, publish, change and remove files, take it down.
 */

export interface BucketSettings {
  missing?: 403 | 404;
  down?: boolean;
  bytesPerSecond?: number;
  truncate?: boolean;
  /** Ranges are answered whatever If-Range says (as a server that does not implement If-Range). */
  ignoreIfRange?: boolean;
  /** Paths answered with this status and body whatever the bucket holds (`{}` ends them). */
  answers?: Record<string, { status: number; contentType?: string; body?: string }>;
}

interface BinaryBucketRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  status: number;
}

export interface BinaryBucket {
  /** The bucket's base URL (what BINARY_MIRRORS names). */
  url: string;
  put(path: string, bytes: Uint8Array | string, contentType?: string): Promise<{ size: number; sha256: string }>;
  /** `size` incompressible bytes made on the server (for large files), with their sha256. */
  generate(path: string, size: number, seed?: number, contentType?: string): Promise<{ size: number; sha256: string }>;
  remove(path: string): Promise<void>;
  set(settings: BucketSettings): Promise<void>;
  log(): Promise<BinaryBucketRequest[]>;
}

let count = 0;

export async function createBinaryBucket(controlUrl: string, settings: BucketSettings = {}): Promise<BinaryBucket> {
  const name = `bk${++count}-${Math.random().toString(36).slice(2, 8)}`;
  const endpoint = `${controlUrl}/control/buckets/${name}`;
  const call = async (method: string, path: string, body?: string | Uint8Array, headers?: Record<string, string>) => {
    const res = await fetch(endpoint + path, { method, body, headers });
    if (res.status >= 300) throw new Error(`fixture bucket ${name}: ${method} ${path} answered ${res.status}`);
    return res.status === 204 ? null : await res.json();
  };
  const { url } = (await call("PUT", "", JSON.stringify(settings))) as { url: string };
  return {
    url,
    put: async (path, bytes, contentType = "application/octet-stream") =>
      (await call("PUT", `/files/${path}`, bytes, { "x-file-type": contentType })) as { size: number; sha256: string },
    generate: async (path, size, seed = 1, contentType = "application/x-gzip") =>
      (await call("PUT", `/generated/${path}?size=${size}&seed=${seed}`, undefined, { "x-file-type": contentType })) as {
        size: number;
        sha256: string;
      },
    remove: async (path) => void (await call("DELETE", `/files/${path}`)),
    set: async (s) => void (await call("PATCH", "", JSON.stringify(s))),
    log: async () => (await call("GET", "/log")) as BinaryBucketRequest[],
  };
}
