/** S3's answers in pkgedge's terms: the service's error codes, and which of them are refusals. */

import { StorageError } from "./store";
import { S3_REFUSED } from "./s3-credentials";

/** An S3 answer pkgedge did not expect, with the service's own error code when it gave one. */
export class S3Error extends StorageError {
  constructor(
    readonly status: number,
    readonly code: string,
    what: string,
  ) {
    super(`S3 ${what} failed: ${status} ${code}`, status === 401 || status === 403 ? S3_REFUSED : null);
    this.name = "S3Error";
  }
}

/** The text of the first <tag> in an XML document (S3's answers are small and regular). */
export function xmlValue(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? decodeXml(m[1]!) : undefined;
}

function decodeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
