/**
 * Which bytes a download's connections fetch next. Nothing is planned ahead:
 * each free connection asks for the first missing byte (per the resource's
 * own `nextGap`, so a resumed resource is planned like a fresh one) that no
 * other connection is fetching, demanded ranges first (round-robin between
 * them), then the rest from the start. A failed request simply leaves its
 * unwritten remainder missing, to be picked up again.
 *
 * A demand that finds every connection busy preempts one: the request of a
 * claim that no demand overlaps is aborted (its bytes so far are kept, the
 * rest becomes missing again) and its connection serves the demand, so a
 * reader far ahead waits one round trip, not one piece.
 */
import type { ByteRange, ResourceBase } from '../resource.js'

/** A range one connection is fetching; `[pos, end)` has not arrived yet. */
export class Claim {
  /** Aborts this claim's request: the download stopping, or a demand preempting it. */
  readonly stop = new AbortController()
  /** Set when a demand took this claim's connection: not a failure, nothing to retry. */
  preempted = false

  constructor(
    readonly start: number,
    public pos: number,
    readonly end: number,
  ) {}
}

interface Demand {
  start: number
  end: number
}

export class Scheduler {
  private readonly claims = new Set<Claim>()
  private demands: Demand[] = []
  /** Index of the demand served first next time (round-robin). */
  private turn = 0
  private waiters: Array<() => void> = []

  constructor(
    private readonly resource: ResourceBase,
    /** The representation's length. */
    private readonly size: number,
    private readonly pieceSize: number,
  ) {}

  /** Fetches `[start, end)` before anything else; returns the function that withdraws the demand. */
  demand(start: number, end: number): () => void {
    const d: Demand = { start: Math.max(0, start), end: Math.min(end, this.size) }
    if (d.start >= d.end) return () => {}
    this.demands.push(d)
    if (this.waiters.length > 0) this.notify()
    else this.preemptFor(d)
    return () => {
      const i = this.demands.indexOf(d)
      if (i >= 0) this.demands.splice(i, 1)
    }
  }

  /** Registers a range already being fetched (the first request's). */
  claim(start: number, end: number): Claim {
    const c = new Claim(start, start, end)
    this.claims.add(c)
    return c
  }

  /** The next range to fetch, now claimed; null when every missing byte is claimed already. */
  next(): Claim | null {
    const n = this.demands.length
    for (let i = 0; i < n; i++) {
      const k = (this.turn + i) % n
      const d = this.demands[k]
      const free = this.firstFree(d.start, d.end)
      if (free) {
        this.turn = (k + 1) % n
        return this.claim(free.start, free.end)
      }
    }
    const free = this.firstFree(0, this.size)
    return free ? this.claim(free.start, free.end) : null
  }

  /** The connection is done with `claim` (complete or not). */
  release(claim: Claim): void {
    this.claims.delete(claim)
    this.notify()
  }

  /** Ranges being fetched. */
  get inFlight(): number {
    return this.claims.size
  }

  /** Resolves at the next release or demand. */
  changed(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  /** Aborts the background claim with the most left to fetch, if `d` has bytes no claim covers. */
  private preemptFor(d: Demand): void {
    if (this.firstFree(d.start, d.end) === null) return
    let victim: Claim | null = null
    for (const c of this.claims) {
      if (c.preempted || this.demands.some((x) => x.start < c.end && c.pos < x.end)) continue
      if (victim === null || c.end - c.pos > victim.end - victim.pos) victim = c
    }
    if (victim === null) return
    victim.preempted = true
    victim.stop.abort(new Error('preempted by a demand'))
  }

  /** Aborts every claim's request (the download stops). */
  abortAll(reason: unknown): void {
    for (const c of this.claims) c.stop.abort(reason)
    this.notify()
  }

  /** Wakes every `changed()` waiter (a release, a demand, or the download stopping). */
  notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /**
   * The first range in `[from, to)` that is neither present nor claimed, at
   * most one piece long and ending where a claim begins; null if none. The
   * piece may run past `to`: a demand's last piece is fetched whole.
   */
  private firstFree(from: number, to: number): ByteRange | null {
    let at = from
    while (at < to) {
      const gap = this.resource.nextGap(at, to)
      if (gap === null) return null
      let x = gap.start
      for (let moved = true; moved && x < gap.end; ) {
        moved = false
        for (const c of this.claims) {
          if (c.pos <= x && x < c.end) {
            x = c.end
            moved = true
          }
        }
      }
      if (x >= gap.end) {
        at = x
        continue
      }
      const gapEnd = this.resource.nextGap(x, this.size)?.end ?? this.size
      let end = Math.min(gapEnd, x + this.pieceSize)
      for (const c of this.claims) if (c.pos > x && c.pos < end) end = c.pos
      return { start: x, end }
    }
    return null
  }
}
