/**
 * The S3 test server behaves as S3 does where pkgedge's guarantees depend on it: an object is
 * visible only once its PUT succeeded. (s3rver alone answers a GET during a PUT with the bytes
 * written so far as the whole object; test/fixtures/s3-server.ts makes its puts atomic.)
 */

import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { startS3Server } from "../fixtures/s3-server.ts";

let server: Awaited<ReturnType<typeof startS3Server>>;
let directory: string;
let client: AwsClient;
let objectUrl: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), "pkgedge-s3-fidelity-"));
  server = await startS3Server(directory);
  const { endpoint, bucket, accessKeyId, secretAccessKey } = server.info;
  client = new AwsClient({ accessKeyId, secretAccessKey, service: "s3", region: "us-east-1" });
  objectUrl = `${endpoint}/${bucket}/fidelity/object`;
});

afterAll(async () => {
  await server?.close();
  rmSync(directory, { recursive: true, force: true });
});

it("does not show an object while its PUT is still sending it", async () => {
  const size = 256 * 1024;
  let release!: () => void;
  const halfway = new Promise<void>((r) => (release = r));
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new Uint8Array(size / 2).fill(1));
      await halfway;
      controller.enqueue(new Uint8Array(size / 2).fill(2));
      controller.close();
    },
  });
  const put = client.fetch(objectUrl, {
    method: "PUT",
    body,
    headers: { "content-length": String(size), "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    duplex: "half",
  } as RequestInit);
  await new Promise((r) => setTimeout(r, 300)); // the first half has reached the server
  const during = await client.fetch(objectUrl);
  await during.arrayBuffer();
  expect(during.status, "a GET while the PUT is under way").toBe(404);
  expect((await client.fetch(objectUrl, { method: "HEAD" })).status, "a HEAD too").toBe(404);
  release();
  expect((await put).status).toBe(200);
  const after = await client.fetch(objectUrl);
  expect(after.status).toBe(200);
  expect((await after.arrayBuffer()).byteLength).toBe(size);
});
