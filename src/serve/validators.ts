/**
 * Validators of a representation (RFC 9110 §8.8): entity tags and
 * Last-Modified dates, and the conditional headers that compare against
 * them (`If-Range`, `If-None-Match`, `If-Modified-Since`). Pure functions.
 */

/** An entity tag as sent: `"v1"` or `W/"v1"`. */
export type EntityTag = string

/**
 * Normalises an entity tag given by the caller: a quoted or `W/`-prefixed
 * value is kept; a bare value is quoted (`v1` → `"v1"`). Null for an empty
 * value or one with characters an entity tag cannot hold.
 */
export function formatEtag(value: string): EntityTag | null {
  const v = value.trim()
  if (v === '') return null
  const quoted = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/
  if (quoted.test(v)) return v
  if (/^[\x21\x23-\x7e\x80-\xff]+$/.test(v)) return `"${v}"`
  return null
}

/** Whether `tag` is a weak entity tag. */
export function isWeak(tag: EntityTag): boolean {
  return tag.startsWith('W/')
}

/** The opaque part of an entity tag (the quoted string), for weak comparison. */
function opaque(tag: EntityTag): string {
  return isWeak(tag) ? tag.slice(2) : tag
}

/** Seconds since the epoch of a date, truncated as HTTP dates are. */
export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

/** Parses an HTTP-date (any of the three RFC 9110 forms Date.parse reads); null when invalid. */
export function parseHttpDate(value: string | null | undefined): Date | null {
  if (!value) return null
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? null : new Date(ms)
}

/**
 * `If-Range` (§13.1.5): whether the ranges may be sent. An entity tag
 * matches only by strong comparison (a weak tag never matches); a date
 * matches only when it equals Last-Modified exactly (to the second).
 * Anything else, including an If-Range the server has no validator for,
 * means: send the whole representation.
 */
export function ifRangeMatches(header: string, etag: EntityTag | null, lastModified: Date | null): boolean {
  const v = header.trim()
  if (v.startsWith('"') || v.startsWith('W/"')) {
    return etag !== null && !isWeak(etag) && !isWeak(v) && v === etag
  }
  const date = parseHttpDate(v)
  return date !== null && lastModified !== null && epochSeconds(date) === epochSeconds(lastModified)
}

/** `If-None-Match` (§13.1.2): weak comparison against any listed tag, or `*`. */
export function noneMatchHits(header: string, etag: EntityTag | null): boolean {
  if (header.trim() === '*') return true
  if (etag === null) return false
  const mine = opaque(etag)
  for (const candidate of header.split(',')) {
    const c = candidate.trim()
    if (c !== '' && opaque(c) === mine) return true
  }
  return false
}

/** `If-Modified-Since` (§13.1.3): whether the representation is unchanged since the date. */
export function notModifiedSince(header: string, lastModified: Date | null): boolean {
  const since = parseHttpDate(header)
  return since !== null && lastModified !== null && epochSeconds(lastModified) <= epochSeconds(since)
}
