/**
 * The body of a range response, read from a resource as its bytes become
 * present: `readNow()` hands out what can be read without waiting, `wait()`
 * waits (with `waitRange`, no polling) until the next byte is there. Both
 * the node:http and the fetch front end drive it, each with its own
 * backpressure (`'drain'`, `pull()`).
 */
import type { ResourceBase } from '../resource.js'

/** One run of bytes in the body, optionally preceded by a multipart part header. */
export interface BodyPart {
  /** Bytes sent before the range (a multipart part header), or null. */
  head: Uint8Array | null
  start: number
  /** Exclusive; `Infinity` for "until the resource's committed end" (length unknown). */
  end: number
}

/** Everything a body sends: parts in order, then an optional trailer (the closing boundary). */
export interface BodyPlan {
  parts: BodyPart[]
  tail: Uint8Array | null
}

/**
 * Registers interest in `[start, end)` with whatever fills the resource (a
 * running `download()`), which then fetches those bytes first; returns the
 * function that withdraws it.
 */
export type DemandFn = (start: number, end: number) => () => void

/**
 * Bytes per read. Large enough that a committed file is served in few
 * writes (the socket, not the copy, is the limit; see bench/serve.mjs), small
 * enough that one response does not hold much memory in flight.
 */
export const READ_CHUNK = 256 * 1024

type Alloc = (n: number) => Uint8Array
const alloc: Alloc =
  typeof Buffer === 'function' ? (n) => Buffer.allocUnsafe(n) : /* browsers, workers */ (n) => new Uint8Array(n)

/** The resource was committed shorter than the length the response promised. */
export class ShortBodyError extends Error {
  constructor(at: number, end: number) {
    super(`the resource ends at byte ${at}, before the ${end} bytes the response promised`)
  }
  override get name(): string {
    return 'ShortBodyError'
  }
}

export class BodyReader {
  private part = 0
  private headSent = false
  private tailSent = false
  private pos: number
  /** Once the resource is known committed, reads need no coverage check. */
  private committed: boolean
  private release: (() => void) | null = null
  private demanded = -1

  constructor(
    private readonly resource: ResourceBase,
    private readonly plan: BodyPlan,
    private readonly signal: AbortSignal,
    private readonly demand: DemandFn | null,
  ) {
    this.pos = plan.parts[0]?.start ?? 0
    this.committed = resource.status().kind === 'committed'
  }

  /**
   * The next chunk if it can be had without waiting; `undefined` when the
   * next byte is not present yet (call `wait()`); null at the end.
   * Throws a `StorageError` (closed …) or `ShortBodyError`.
   */
  readNow(): Uint8Array | null | undefined {
    for (;;) {
      const part = this.plan.parts[this.part]
      if (part === undefined) {
        this.withdrawDemand()
        if (this.plan.tail !== null && !this.tailSent) {
          this.tailSent = true
          return this.plan.tail
        }
        return null
      }
      if (part.head !== null && !this.headSent) {
        this.headSent = true
        return part.head
      }
      if (this.pos < part.end) {
        const chunk = this.readPresent(part.end)
        if (chunk === undefined) return undefined
        if (chunk !== null) {
          this.pos += chunk.length
          return chunk
        }
        // The committed end came first.
        if (part.end !== Number.POSITIVE_INFINITY) throw new ShortBodyError(this.pos, part.end)
      }
      this.nextPart()
    }
  }

  /**
   * Waits until `readNow()` can hand out something. Rejects with the
   * resource's `StorageError` (failed, cancelled, closed) or the abort
   * reason; an abort withdraws the wait from the resource.
   */
  async wait(): Promise<void> {
    const part = this.plan.parts[this.part]
    if (part === undefined) return
    this.demandFrom(part)
    const outcome = await this.resource.waitRange(this.pos, Math.min(part.end, this.pos + 1), {
      signal: this.signal,
    })
    if (outcome === 'eof') this.committed = true
  }

  /** Withdraws any demand this reader made; call when the response ends for any reason. */
  close(): void {
    this.withdrawDemand()
  }

  private nextPart(): void {
    this.withdrawDemand()
    this.part++
    this.headSent = false
    this.pos = this.plan.parts[this.part]?.start ?? this.pos
  }

  /** Reads from `pos` what is present, at most READ_CHUNK and up to `end`; null at the committed end. */
  private readPresent(end: number): Uint8Array | null | undefined {
    let want = Math.min(end - this.pos, READ_CHUNK)
    if (!this.committed) {
      const gap = this.resource.nextGap(this.pos, this.pos + want)
      if (gap !== null) {
        if (gap.start === this.pos) {
          // Not there yet, unless the resource was committed meanwhile.
          if (this.resource.status().kind !== 'committed') return undefined
          this.committed = true
        } else {
          want = gap.start - this.pos
        }
      }
    }
    const buf = alloc(want)
    const n = this.resource.readAt(this.pos, buf)
    if (n === 0) return null
    return n === want ? buf : buf.subarray(0, n)
  }

  /** One demand per part, from where the reader first had to wait to the part's end. */
  private demandFrom(part: BodyPart): void {
    if (this.demand === null || this.demanded === this.part) return
    this.demanded = this.part
    const end = part.end === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : part.end
    this.release = this.demand(this.pos, end)
  }

  private withdrawDemand(): void {
    const release = this.release
    this.release = null
    release?.()
  }
}
