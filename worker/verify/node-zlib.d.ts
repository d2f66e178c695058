/**
 * The part of `node:zlib` pkgedge uses: zstd, which workerd implements natively (with the
 * nodejs_compat flag) and the web's DecompressionStream does not offer. Declared here because the
 * worker is typed against the Workers runtime only, not all of Node.
 */
declare module "node:zlib" {
  interface ZstdStream {
    write(chunk: Uint8Array): boolean;
    end(): void;
    destroy(error?: Error): void;
    on(event: "error", listener: (err: Error) => void): void;
    once(event: "drain" | "end", listener: () => void): void;
    once(event: "error", listener: (err: Error) => void): void;
    off(event: "drain" | "end", listener: () => void): void;
    off(event: "error", listener: (err: Error) => void): void;
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  }
  interface ZstdOptions {
    params?: Record<number, number>;
  }
  export function createZstdCompress(options?: ZstdOptions): ZstdStream;
  export function createZstdDecompress(options?: ZstdOptions): ZstdStream;
  export const constants: {
    ZSTD_c_compressionLevel: number;
    ZSTD_c_windowLog: number;
    ZSTD_c_checksumFlag: number;
    ZSTD_d_windowLogMax: number;
  };
}
