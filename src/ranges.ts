/** Byte ranges as the API returns them, from the flat lists backends return. */
import type { FlatRanges } from './backend-contract.js'

/** A half-open byte range `[start, end)`. */
export interface ByteRange {
  start: number
  end: number
}

/** `[s0, e0, s1, e1, …]` as `[{ start: s0, end: e0 }, …]`. */
export function toByteRanges(flat: FlatRanges): ByteRange[] {
  const out: ByteRange[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ start: flat[i] as number, end: flat[i + 1] as number })
  return out
}

/** One `[start, end]` pair as a range; nothing as null. */
export function toByteRange(flat: FlatRanges | null | undefined): ByteRange | null {
  return flat && flat.length >= 2 ? { start: flat[0] as number, end: flat[1] as number } : null
}
