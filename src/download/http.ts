/**
 * Reading an origin's answers: Content-Range, validators, which statuses are
 * worth retrying. Pure functions over fetch `Response` headers.
 */

/** A parsed `Content-Range: bytes first-last/total` (total null for `*`). */
export interface ContentRange {
  first: number
  /** Inclusive, as on the wire. */
  last: number
  total: number | null
}

/** Parses a satisfied `Content-Range`; null when absent or malformed. */
export function parseContentRange(value: string | null): ContentRange | null {
  if (value === null) return null
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value)
  if (!m) return null
  const first = Number(m[1])
  const last = Number(m[2])
  const total = m[3] === '*' ? null : Number(m[3])
  if (
    !Number.isSafeInteger(last) ||
    last < first ||
    (total !== null && (!Number.isSafeInteger(total) || total <= last))
  )
    return null
  return { first, last, total }
}

/** The complete length of an unsatisfied `Content-Range: bytes *\/total`; null when absent or malformed. */
export function parseUnsatisfiedRange(value: string | null): number | null {
  const m = value === null ? null : /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(value)
  if (!m) return null
  const total = Number(m[1])
  return Number.isSafeInteger(total) ? total : null
}

/** A non-negative Content-Length, or null. */
export function parseContentLength(value: string | null): number | null {
  if (value === null || !/^\s*\d+\s*$/.test(value)) return null
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : null
}

/** The validator usable in `If-Range`: a strong ETag, else Last-Modified, else null (weak tags cannot be). */
export function validatorOf(headers: Headers): string | null {
  const etag = headers.get('etag')
  if (etag?.startsWith('"')) return etag
  return headers.get('last-modified')
}

/**
 * Whether `headers` carry the same validator as `validator` (an ETag or an
 * HTTP-date, as sent in If-Range): true, false, or null when the response
 * has no validator of that kind to compare.
 */
export function sameValidator(headers: Headers, validator: string): boolean | null {
  if (validator.startsWith('"') || validator.startsWith('W/')) {
    const etag = headers.get('etag')
    return etag === null ? null : etag === validator
  }
  const lm = headers.get('last-modified')
  if (lm === null) return null
  return Date.parse(lm) === Date.parse(validator)
}

/** Statuses that say "try again later" rather than "no". */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}
