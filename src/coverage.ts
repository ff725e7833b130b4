/** `MemCoverage`: which byte ranges of a download have arrived (the core's, via the backend). */
import type { BackendCoverage } from './backend-contract.js'
import { backend } from './backend.js'
import { fromBackendError } from './errors.js'
import { type ByteRange, toByteRange, toByteRanges } from './ranges.js'
import { validateOffset } from './validate.js'

/** Downloaded byte ranges and the total size, to plan what to fetch next. */
export class MemCoverage {
  readonly #native: BackendCoverage

  /** Nothing marked, size unknown. */
  constructor() {
    try {
      this.#native = backend().newCoverage()
    } catch (e) {
      throw fromBackendError(e, MemCoverage)
    }
  }

  /** Records `[start, end)` as downloaded; empty ranges are ignored. */
  mark(start: number, end: number): void {
    validateOffset(start, 'start')
    validateOffset(end, 'end')
    this.#native.mark(start, end)
  }

  /** Sets the total size once known (e.g. from `Content-Range`). */
  setTotalSize(total: number): void {
    validateOffset(total, 'total')
    this.#native.setTotalSize(total)
  }

  /** The total size, or null while unknown. */
  totalSize(): number | null {
    return this.#native.totalSize() ?? null
  }

  /**
   * The first missing range at or after `from`: up to the total size when
   * known, otherwise only gaps before the last marked byte.
   */
  nextGap(from: number): ByteRange | null {
    validateOffset(from, 'from')
    return toByteRange(this.#native.nextGap(from))
  }

  /** The total size is known and every byte below it is marked. */
  isComplete(): boolean {
    return this.#native.isComplete()
  }

  /** The marked ranges, merged and in order. */
  ranges(): ByteRange[] {
    return toByteRanges(this.#native.ranges())
  }
}
