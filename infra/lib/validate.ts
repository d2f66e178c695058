/**
 * Checks of what an operator passes before it is used: an endpoint is an http(s) URL, a bucket
 * name follows S3's rules, an account ID is Cloudflare's 32 hex digits.
 * Each refusal is one line naming the flag or variable (exit 2, as a malformed option is).
 */

function refuse(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(2);
}

export function endpointOf(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse(`${name}: ${JSON.stringify(value)} is not a URL (e.g. https://<account>.r2.cloudflarestorage.com)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return refuse(`${name}: ${JSON.stringify(value)} is not an http(s) URL`);
  return value;
}

/** S3's bucket naming rules (3–63 characters: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit). */
export function bucketNameOf(name: string, value: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) || value.includes("..")) {
    return refuse(`${name}: ${JSON.stringify(value)} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)`);
  }
  return value;
}

export function accountIdOf(name: string, value: string): string {
  if (!/^[0-9a-f]{32}$/.test(value)) return refuse(`${name}: ${JSON.stringify(value)} is not a Cloudflare account ID (32 hex digits)`);
  return value;
}
