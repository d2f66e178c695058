/** RFC 9110 §13.1.2: If-None-Match uses weak comparison, and `*` matches any stored object. */
export function ifNoneMatchHits(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  return ifNoneMatch.trim() === "*" || ifNoneMatch.split(",").some((t) => bare(t) === bare(etag));
}

/** What a stored object is answered with, as far as If-Range is concerned. */
export interface RangeValidators {
  /** The ETag the client is shown (null when there is none). */
  etag: string | null;
  /** The Last-Modified the client is shown, exactly as sent (null when there is none). */
  lastModified: string | null;
  /**
   * Whether Last-Modified is a strong validator: true only where the content under the key never
   * changes (a content-addressed tarball, a release named with its version). Elsewhere two
   * versions could share a second, so a date never lets a range apply.
   */
  strongDate: boolean;
}

/**
 * RFC 9110 §13.1.5: whether a range applies under the request's If-Range (true), or the whole
 * representation must be sent (false) because the client's part may be of another version. No
 * If-Range: the range applies. An entity tag holds only under strong comparison, so a weak tag on
 * either side never does; an HTTP-date holds only when it is exactly a strong Last-Modified.
 */
export function ifRangeHolds(ifRange: string | null, validators: RangeValidators): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    const { etag } = validators;
    return etag !== null && !value.startsWith("W/") && !etag.startsWith("W/") && value === etag;
  }
  return validators.strongDate && validators.lastModified !== null && value === validators.lastModified;
}
