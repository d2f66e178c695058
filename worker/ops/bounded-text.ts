/**
 * Values from outside (client headers, the path) are cut to a size before they are logged or
 * written to Analytics Engine, so a client cannot make a log line or a data point as large as it
 * likes, or too large to be kept at all.
 */

/** At most 3 UTF-8 bytes per UTF-16 code unit: shorter strings need no encoding to be measured. */
const MAX_BYTES_PER_UNIT = 3;

/** `value` cut to at most `maxBytes` bytes of UTF-8, at a character boundary. */
export function truncateUtf8(value: string, maxBytes: number): string {
  if (value.length * MAX_BYTES_PER_UNIT <= maxBytes) return value;
  const bytes = new TextEncoder().encode(value);
  if (bytes.length <= maxBytes) return value;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // never split a character's bytes
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** UTF-8 length in bytes. */
export function utf8Bytes(value: string): number {
  return new TextEncoder().encode(value).byteLength;
}
