/** A multipart upload to an S3-compatible bucket: completing it is the commit, so it happens only after the stream ended cleanly. */

import { partsOf } from "./parts";
import { S3Error, xmlValue } from "./s3-error";
import { ATTEMPTS, streamFrom, type S3Requests } from "./s3-requests";

/** Uploads `body` under `key` with the headers of its create request (no precondition: multipart uploads have none). */
export async function putMultipart(
  s3: S3Requests,
  key: string,
  body: ReadableStream<Uint8Array>,
  headers: Record<string, string>,
  partBytes: number,
): Promise<boolean> {
  const started = await s3.send(`create multipart ${key}`, s3.url(key, "?uploads"), { method: "POST", headers }, [200], ATTEMPTS.write);
  const uploadId = xmlValue(await s3.text(`create multipart ${key}`, started), "UploadId");
  if (!uploadId) throw new S3Error(started.status, "NoUploadId", `create multipart ${key}`);
  const q = (extra = "") => `?uploadId=${encodeURIComponent(uploadId)}${extra}`;
  try {
    const etags = await uploadParts(s3, key, body, partBytes, q);
    const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
    const done = await s3.send(
      `complete multipart ${key}`,
      s3.url(key, q()),
      { method: "POST", headers: { "content-type": "application/xml" }, body: xml },
      [200],
      ATTEMPTS.write,
    );
    const text = await s3.text(`complete multipart ${key}`, done);
    // S3 may answer 200 and still report an error in the body.
    if (xmlValue(text, "Code")) throw new S3Error(200, xmlValue(text, "Code")!, `complete multipart ${key}`);
    return true;
  } catch (err) {
    await s3
      .send(`abort multipart ${key}`, s3.url(key, q()), { method: "DELETE" }, [200, 204, 404])
      .then((r) => r.body?.cancel())
      .catch(() => {});
    throw err;
  }
}

/**
 * Each part is gathered in one buffer (reused for every part), then sent as a stream read from
 * that buffer: a failed part can be sent again, and the runtime makes no copy of it (sending a
 * 16 MiB Uint8Array body copies it, and those copies were most of what an S3 fill cost in memory).
 */
async function uploadParts(
  s3: S3Requests,
  key: string,
  body: ReadableStream<Uint8Array>,
  partBytes: number,
  q: (extra?: string) => string,
): Promise<string[]> {
  const etags: string[] = [];
  const upload = async (part: Uint8Array) => {
    const n = etags.length + 1;
    const init = () => ({ method: "PUT", body: streamFrom(part) });
    const res = await s3.send(
      `upload part ${n} of ${key}`,
      s3.url(key, q(`&partNumber=${n}`)),
      init,
      [200],
      ATTEMPTS.write,
      part.byteLength,
    );
    await res.body?.cancel();
    etags.push(res.headers.get("etag") ?? "");
  };
  // partsOf reuses its buffer; that is safe because the part's upload has answered (and so read
  // the whole body) before the next part is asked for.
  for await (const part of partsOf(body, partBytes)) await upload(part);
  if (etags.length === 0) await upload(new Uint8Array(0));
  return etags;
}
