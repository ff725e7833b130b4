/**
 * The `Range` request header (RFC 9110 §14.1-14.2): parsing and resolving
 * against a known length. Pure functions, no I/O.
 */
import type { ByteRange } from '../resource.js'

/** What a `Range` header asks for, once resolved against the representation's length. */
export type RangeRequest =
  /** No usable `Range` header: send the whole representation (200). */
  | { kind: 'whole' }
  /** Every range lies past the end: 416. */
  | { kind: 'unsatisfiable' }
  /** One or more satisfiable ranges, half-open, in the order to send them. */
  | { kind: 'ranges'; ranges: ByteRange[] }

/** A `range-spec` before the length is known: `first-last`, `first-`, or suffix `-n`. */
interface RangeSpec {
  first: number | null
  /** Inclusive, as on the wire; null for `first-` (open-ended). */
  last: number | null
  /** Suffix length of `-n`. */
  suffix: number | null
}

// digits only, no sign, no leading '+': Number() would accept more.
const DIGITS = /^[0-9]+$/

function toInt(s: string): number | null {
  if (!DIGITS.test(s)) return null
  const n = Number(s)
  // Past 2^53 the position cannot be addressed anyway; clamp to "very far".
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER
}

/**
 * Parses a `Range` header into its range-specs, or null when the header is
 * absent, not in `bytes`, syntactically invalid, or has more than `maxRanges`
 * specs: RFC 9110 lets a server ignore such a header and send the whole
 * representation, which is what every caller does with null.
 */
export function parseRangeHeader(header: string | null | undefined, maxRanges: number): RangeSpec[] | null {
  if (!header) return null
  const eq = header.indexOf('=')
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return null
  const specs: RangeSpec[] = []
  for (const raw of header.slice(eq + 1).split(',')) {
    const part = raw.trim()
    // Empty list elements are allowed by the list syntax (`1#` with OWS).
    if (part === '') continue
    if (specs.length >= maxRanges) return null
    const dash = part.indexOf('-')
    if (dash < 0) return null
    const a = part.slice(0, dash).trim()
    const b = part.slice(dash + 1).trim()
    if (a === '') {
      const suffix = toInt(b)
      if (suffix === null) return null
      specs.push({ first: null, last: null, suffix })
      continue
    }
    const first = toInt(a)
    if (first === null) return null
    if (b === '') {
      specs.push({ first, last: null, suffix: null })
      continue
    }
    const last = toInt(b)
    // `last < first` makes the whole header invalid (§14.1.1).
    if (last === null || last < first) return null
    specs.push({ first, last, suffix: null })
  }
  return specs.length > 0 ? specs : null
}

/**
 * Whether the header needs the total length to be answered: anything but
 * `bytes=0-` (which is the whole representation, so it can be streamed as a
 * 200 of unknown length).
 */
export function needsLength(specs: RangeSpec[] | null): boolean {
  if (specs === null) return false
  return !(specs.length === 1 && specs[0].first === 0 && specs[0].last === null)
}

/**
 * Resolves parsed specs against `length`: drops the unsatisfiable ones (a
 * first byte at or past the end, a zero suffix), clamps the rest, and merges
 * overlapping or touching ranges (sorted) when there are any, so no byte is
 * sent twice and a many-overlapping-ranges request costs no more than the
 * bytes it covers.
 */
export function resolveRanges(specs: RangeSpec[] | null, length: number): RangeRequest {
  if (specs === null) return { kind: 'whole' }
  const ranges: ByteRange[] = []
  for (const s of specs) {
    if (s.suffix !== null) {
      if (s.suffix === 0 || length === 0) continue
      ranges.push({ start: Math.max(0, length - s.suffix), end: length })
      continue
    }
    const first = s.first as number
    if (first >= length) continue
    const end = s.last === null ? length : Math.min(s.last + 1, length)
    ranges.push({ start: first, end })
  }
  if (ranges.length === 0) return { kind: 'unsatisfiable' }
  return { kind: 'ranges', ranges: mergeIfOverlapping(ranges) }
}

/** The ranges as given when none overlap or touch; otherwise sorted and merged. */
function mergeIfOverlapping(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length === 1) return ranges
  const sorted = ranges.slice().sort((x, y) => x.start - y.start)
  let overlapping = false
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].start <= sorted[i - 1].end) {
      overlapping = true
      break
    }
  }
  if (!overlapping) return ranges
  const merged: ByteRange[] = [{ ...sorted[0] }]
  for (let i = 1; i < sorted.length; i++) {
    const last = merged[merged.length - 1]
    const r = sorted[i]
    if (r.start <= last.end) last.end = Math.max(last.end, r.end)
    else merged.push({ ...r })
  }
  return merged
}
