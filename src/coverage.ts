/** `MemCoverage`: which byte ranges of a download have arrived (the core's, via the backend). */
import { backend } from './backend.js'
import { toStorageError } from './errors.js'
import type { NativeCoverage } from './native.js'
import type { ByteRange } from './resource.js'
import { validateOffset } from './validate.js'

/** Downloaded byte ranges and the total size, to plan what to fetch next. */
export class MemCoverage {
  readonly #native: NativeCoverage

  /** Nothing marked, size unknown. */
  constructor() {
    try {
      this.#native = backend().newCoverage()
    } catch (e) {
      throw toStorageError(e, MemCoverage)
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
    return this.#native.totalSize()
  }

  /**
   * The first missing range at or after `from`: up to the total size when
   * known, otherwise only gaps before the last marked byte.
   */
  nextGap(from: number): ByteRange | null {
    validateOffset(from, 'from')
    const gap = this.#native.nextGap(from)
    return gap ? { start: gap[0], end: gap[1] } : null
  }

  /** The total size is known and every byte below it is marked. */
  isComplete(): boolean {
    return this.#native.isComplete()
  }

  /** The marked ranges, merged and in order. */
  ranges(): ByteRange[] {
    return this.#native.ranges().map(([start, end]) => ({ start, end }))
  }
}
