/**
 * Which bytes a download's connections fetch next. Nothing is planned ahead:
 * each free connection asks for the first missing byte (per the resource's
 * own `nextGap`, so a resumed resource is planned like a fresh one) that no
 * other connection is fetching, demanded ranges first, then the rest from
 * the start. A failed request simply leaves its unwritten remainder missing,
 * to be picked up again.
 *
 * Demands. A reader demands the range it will read, often to the end of the
 * file (`bytes=0-`). What is urgent is only its *window*: from the first
 * byte it lacks, `window` bytes on (a piece per connection). Free
 * connections serve the demands' windows in turn, then the rest of the file.
 * A claim that runs into a demand's window from before it is cut at the
 * window's start. A demand that finds every connection busy preempts so that
 * it waits a round trip, not a piece: the requests of claims fetching in no
 * demand's window (as many as its window has pieces to fetch), or else the
 * farthest claim of the other demand holding the most connections (when it
 * holds more than one); the freed connections serve the new demand first.
 * A preempted request is aborted; its bytes so far are kept and the rest
 * becomes missing again.
 */
import type { ByteRange, ResourceBase } from '../resource.js'

/** A range one connection is fetching; `[pos, end)` has not arrived yet. */
export class Claim {
  /** Aborts this claim's request: the download stopping, or a demand preempting it. */
  readonly stop = new AbortController()
  /** Set when a demand took this claim's connection: not a failure, nothing to retry. */
  preempted = false
  /** Set when a demand cut `end` short: stop reading at `end` instead of draining the answer. */
  cut = false

  constructor(
    readonly start: number,
    public pos: number,
    public end: number,
  ) {}

  /** Ends the claim at `at` (the bytes from there go to a demand). */
  cutAt(at: number): void {
    if (at > this.pos && at < this.end) {
      this.end = at
      this.cut = true
    }
  }
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
    /** Bytes of a demand that count as urgent, from its first missing byte. */
    private readonly window: number,
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
      if (i < 0) return
      this.demands.splice(i, 1)
      // Claims that served only `d` are background now: the others may take them.
      if (this.waiters.length === 0) for (const other of this.demands) this.preemptFor(other)
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
      const hot = this.windowOf(this.demands[k])
      const free = hot && this.firstFree(hot.start, hot.end)
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

  /** The urgent part of `d`: `window` bytes from its first missing byte; null when it has everything. */
  private windowOf(d: Demand): ByteRange | null {
    const gap = this.resource.nextGap(d.start, d.end)
    return gap ? { start: gap.start, end: Math.min(d.end, gap.start + this.window) } : null
  }

  /** Preempts connections for `d` if its window has bytes no claim covers (see the module comment). */
  private preemptFor(d: Demand): void {
    const hot = this.windowOf(d)
    if (hot === null) return
    // A claim running into the window from before it leaves the window's bytes to others.
    for (const c of this.claims) if (!c.preempted && c.pos < hot.start) c.cutAt(hot.start)
    let wanted = 0
    for (let at = hot.start, free = this.firstFree(at, hot.end); free !== null; free = this.firstFree(at, hot.end)) {
      wanted++
      at = free.end
    }
    if (wanted === 0) return
    const windows = this.demands.map((x) => this.windowOf(x))
    // A claim serves a window when it is fetching bytes inside it now.
    const inWindow = (c: Claim, w: ByteRange | null): boolean => w !== null && w.start <= c.pos && c.pos < w.end
    const live = [...this.claims].filter((c) => !c.preempted)
    // Background claims first, the ones with the most left to fetch first.
    const victims = live
      .filter((c) => !windows.some((w) => inWindow(c, w)))
      .sort((a, b) => b.end - b.pos - (a.end - a.pos))
      .slice(0, wanted)
    if (victims.length === 0) {
      let most: Claim[] = []
      for (const x of this.demands) {
        if (x === d) continue
        const w = this.windowOf(x)
        const held = live.filter((c) => inWindow(c, w))
        if (held.length > most.length) most = held
      }
      if (most.length > 1) victims.push(most.reduce((far, c) => (c.pos > far.pos ? c : far)))
    }
    if (victims.length === 0) return
    // The freed connections' next() serves `d` first.
    this.turn = this.demands.indexOf(d)
    for (const v of victims) {
      v.preempted = true
      v.stop.abort(new Error('preempted by a demand'))
    }
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
