/**
 * Model-based testing of every resource class: a plain reference model (a
 * byte map, a range set, a lifecycle) and random command sequences from
 * fast-check, run against the real resource, comparing every result, status
 * and error code after every step.
 *
 * The model is written from the core's semantics
 * (crates/kithara-storage/src/backend/resource.rs):
 * - writes to a committed resource fail `ERR_STORAGE_COMMITTED` unless it
 *   reopens on write (the temp of an `AtomicChunked` is opened ReadWrite);
 * - reads stop at the end of the highest written byte (once committed: the
 *   final length); gaps read as zeros;
 * - `commit(n)` truncates to `n` and marks `0..n` available, `commit()` uses
 *   the highest written byte; committing again is allowed;
 * - `fail` makes every read, write, wait and commit fail until `reactivate`,
 *   which clears failed and committed; after `reactivate` (or a reopening
 *   write) of a committed resource, reads below the committed length return
 *   the committed bytes, and stop at that length, until the next commit;
 * - `close` makes every member but `status` (`{ kind: 'closed' }`),
 *   `isClosed` and `close` (twice is fine) fail CLOSED;
 * - a cancelled token: data access, waits and commit fail CANCELLED;
 *   reactivate fails CANCELLED unless committed;
 * - waits: closed → CLOSED, start > end → INVALID_RANGE, empty → ready,
 *   unhealthy → its error, covered → ready, committed → eof at or past the
 *   end else ready, otherwise pending until a write covers it (ready), a
 *   commit (ready/eof), fail (FAILED), cancel (CANCELLED), interrupt
 *   (interrupted) or close (CLOSED);
 * - status priority closed > failed > committed > cancelled > active.
 * - `AtomicChunked`: writes go to `<path>.tmp`; the first commit renames it
 *   to `<path>` and reopens that committed (Auto mode: no reopen on write);
 *   `fail` before that deletes the temp and makes `reactivate` fail FAILED
 *   (with that fail's reason) for good; `close` deletes it too.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import {
  AbortError,
  AtomicChunked,
  CancellationToken,
  MemResource,
  MmapResource,
  type ResourceBase,
  type ResourceStatus,
  StorageError,
  StorageResource,
} from '@kithara/storage'
import fc from 'fast-check'

/** The resource classes under test. */
export type ModelKind = 'mem' | 'mmap' | 'storage-mem' | 'storage-mmap' | 'chunked'

/** One step of a sequence. */
export type Cmd =
  | { op: 'writeAt'; offset: number; len: number; seed: number }
  | { op: 'readAt'; offset: number; len: number }
  | { op: 'writeAll'; len: number; seed: number }
  | { op: 'readAll' }
  | { op: 'commit'; finalLen: number | null | undefined }
  | { op: 'fail'; reason: string }
  | { op: 'reactivate' }
  | { op: 'interrupt' }
  | { op: 'close' }
  | { op: 'cancel' }
  | { op: 'containsRange'; start: number; end: number }
  | { op: 'nextGap'; from: number; limit: number }
  | { op: 'waitRange'; start: number; end: number; abortable: boolean }
  | { op: 'abortWait'; pick: number }
  | { op: 'waitRangeTimeout'; start: number; end: number }
  | { op: 'waitRangeSync'; start: number; end: number }

/** The bytes a write with `seed` puts at absolute `offset`: position dependent, seed dependent. */
export function patternByte(seed: number, offset: number): number {
  return (seed * 131 + offset * 7 + (offset >>> 8)) & 0xff
}

function pattern(seed: number, offset: number, len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) out[i] = patternByte(seed, offset + i)
  return out
}

// ---------------------------------------------------------------------------
// Range set

/** Sorted, disjoint, non-adjacent half-open ranges (merged as rangemap merges them). */
export class RangeSet {
  ranges: Array<[number, number]> = []

  insert(s: number, e: number): void {
    if (s >= e) return
    const out: Array<[number, number]> = []
    let ns = s
    let ne = e
    for (const [a, b] of this.ranges) {
      if (b < ns || a > ne) out.push([a, b])
      else {
        ns = Math.min(ns, a)
        ne = Math.max(ne, b)
      }
    }
    out.push([ns, ne])
    out.sort((x, y) => x[0] - y[0])
    this.ranges = out
  }

  /** Removes `[s, ∞)`. */
  truncate(s: number): void {
    const out: Array<[number, number]> = []
    for (const [a, b] of this.ranges) {
      if (a >= s) continue
      out.push([a, Math.min(b, s)])
    }
    this.ranges = out
  }

  covers(s: number, e: number): boolean {
    if (s >= e) return true
    return this.ranges.some(([a, b]) => a <= s && e <= b)
  }

  highWater(): number {
    return this.ranges.length === 0 ? 0 : this.ranges[this.ranges.length - 1][1]
  }

  /** First gap in `[from, upper)`. */
  firstGap(from: number, upper: number): [number, number] | null {
    let at = from
    for (const [a, b] of this.ranges) {
      if (b <= at) continue
      if (a > at) return [at, Math.min(a, upper)]
      at = b
      if (at >= upper) return null
    }
    return at < upper ? [at, upper] : null
  }
}

// ---------------------------------------------------------------------------
// Model

/** What a call returns: a value or a storage error (code + reason). */
export type Outcome = { ok: unknown } | { err: string; reason?: string }

interface ModelWait {
  key: number
  start: number
  end: number
  result?: Outcome
}

type ChunkPhase = 'claimed' | 'abandoned' | 'canonical'

/** The reference model of one resource. */
export class Model {
  bytes = new Map<number, number>()
  available = new RangeSet()
  finalLen: number | null = null
  failed: string | null = null
  cancelled = false
  closed = false
  reopenOnWrite: boolean
  /** AtomicChunked only: where the writes go. */
  phase: ChunkPhase | null
  /** AtomicChunked only: the reason of the fail() that discarded the temp; reactivate then fails with it. */
  discarded: string | null = null
  waits: ModelWait[] = []
  /**
   * After `reactivate` (or a write that reopens) of a committed resource: the
   * committed bytes, which reads below their length return until the next
   * commit (a read stops at that length: one generation per read).
   */
  base: Uint8Array | null = null
  private nextKey = 1

  constructor(readonly kind: ModelKind) {
    this.phase = kind === 'chunked' ? 'claimed' : null
    // The temp of an AtomicChunked is opened ReadWrite: a write reopens it.
    this.reopenOnWrite = kind === 'chunked'
  }

  private health(): Outcome | null {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    if (this.failed !== null) return { err: 'ERR_STORAGE_FAILED', reason: this.failed }
    if (this.cancelled) return { err: 'ERR_STORAGE_CANCELLED' }
    return null
  }

  private flagsSet(): boolean {
    return this.closed || this.failed !== null || this.cancelled
  }

  /** Decides every pending wait with `f(wait)`. */
  private drain(f: (w: ModelWait) => Outcome): void {
    for (const w of this.waits) if (!w.result) w.result = f(w)
  }

  /** Forgets decided waits (the runner has checked them). */
  settle(): void {
    this.waits = this.waits.filter((w) => !w.result)
  }

  pending(): ModelWait[] {
    return this.waits.filter((w) => !w.result)
  }

  /**
   * Whether `cmd` would run into a known, reported bug (asserted as it
   * should behave, with `test.failing`, in known-bugs.test.ts); the runner
   * ends the sequence there and counts it. None at present: the two the
   * model found (AtomicChunked commit(0) reopening active, and reactivate
   * after fail had discarded the temp) are fixed in the core.
   */
  knownBug(_cmd: Cmd): string | null {
    return null
  }

  writeAt(offset: number, data: Uint8Array): Outcome {
    const h = this.health()
    if (h) return h
    if (this.finalLen !== null) {
      if (!this.reopenOnWrite) return { err: 'ERR_STORAGE_COMMITTED' }
      this.startGeneration()
    }
    if (data.length === 0) return { ok: undefined }
    for (let i = 0; i < data.length; i++) this.bytes.set(offset + i, data[i])
    this.available.insert(offset, offset + data.length)
    for (const w of this.waits) {
      if (!w.result && this.available.covers(w.start, w.end)) w.result = { ok: 'ready' }
    }
    return { ok: undefined }
  }

  readAt(offset: number, len: number): Outcome {
    if (this.flagsSet()) return this.health() as Outcome
    const limit = this.available.highWater()
    if (len === 0 || offset >= limit) return { ok: new Uint8Array(0) }
    if (this.base && offset < this.base.length) {
      return { ok: this.base.slice(offset, Math.min(offset + len, this.base.length, limit)) }
    }
    const n = Math.min(limit - offset, len)
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.bytes.get(offset + i) ?? 0
    return { ok: out }
  }

  /** Committed → active: readers keep the committed bytes until the next commit. */
  private startGeneration(): void {
    if (this.finalLen === null) return
    const base = new Uint8Array(this.finalLen)
    for (let i = 0; i < base.length; i++) base[i] = this.bytes.get(i) ?? 0
    this.base = base
    this.finalLen = null
  }

  readAll(): Outcome {
    const len = this.finalLen ?? 0
    return this.readAt(0, len)
  }

  commit(finalLen: number | null | undefined): Outcome {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    const h = this.health()
    if (h) return h
    const len = finalLen ?? this.available.highWater()
    this.available.truncate(len)
    if (len > 0) this.available.insert(0, len)
    for (const k of [...this.bytes.keys()]) if (k >= len) this.bytes.delete(k)
    this.finalLen = len
    this.base = null
    this.drain((w) => ({ ok: w.start >= len ? 'eof' : 'ready' }))
    if (this.phase === 'claimed') {
      this.phase = 'canonical'
      this.reopenOnWrite = false
    }
    return { ok: undefined }
  }

  writeAll(data: Uint8Array): Outcome {
    const w = this.writeAt(0, data)
    if ('err' in w) return w
    return this.commit(data.length)
  }

  fail(reason: string): Outcome {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    this.failed = reason
    this.drain(() => ({ err: 'ERR_STORAGE_FAILED', reason }))
    if (this.phase === 'claimed') {
      this.phase = 'abandoned'
      this.discarded = reason
    }
    return { ok: undefined }
  }

  reactivate(): Outcome {
    // The temp (the data) is gone: an AtomicChunked cannot come back.
    if (this.discarded !== null && !this.closed) return { err: 'ERR_STORAGE_FAILED', reason: this.discarded }
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    if (this.cancelled && this.finalLen === null) return { err: 'ERR_STORAGE_CANCELLED' }
    this.startGeneration()
    this.failed = null
    return { ok: undefined }
  }

  interrupt(): Outcome {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    this.drain(() => ({ ok: 'interrupted' }))
    return { ok: undefined }
  }

  close(): Outcome {
    if (this.closed) return { ok: undefined }
    this.closed = true
    this.drain(() => ({ err: 'ERR_STORAGE_CLOSED' }))
    if (this.phase === 'claimed') this.phase = 'abandoned'
    return { ok: undefined }
  }

  cancel(): Outcome {
    if (this.cancelled) return { ok: undefined }
    this.cancelled = true
    if (!this.closed && this.failed === null) this.drain(() => ({ err: 'ERR_STORAGE_CANCELLED' }))
    return { ok: undefined }
  }

  containsRange(start: number, end: number): Outcome {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    return { ok: this.available.covers(start, end) }
  }

  nextGap(from: number, limit: number): Outcome {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    const upper = this.finalLen === null ? limit : Math.min(this.finalLen, limit)
    if (from >= upper) return { ok: null }
    const g = this.available.firstGap(from, upper)
    return { ok: g ? { start: g[0], end: g[1] } : null }
  }

  /** How a wait is decided at registration, or null if it stays pending. */
  decide(start: number, end: number): Outcome | null {
    if (this.closed) return { err: 'ERR_STORAGE_CLOSED' }
    if (start > end) return { err: 'ERR_STORAGE_INVALID_RANGE' }
    if (start === end) return { ok: 'ready' }
    const h = this.health()
    if (h) return h
    if (this.available.covers(start, end)) return { ok: 'ready' }
    if (this.finalLen !== null) return { ok: start >= this.finalLen ? 'eof' : 'ready' }
    return null
  }

  /** Registers a pending wait; returns its key. */
  register(start: number, end: number): ModelWait {
    const w: ModelWait = { key: this.nextKey++, start, end }
    this.waits.push(w)
    return w
  }

  /** Withdraws a pending wait (timeout or abort). */
  withdraw(w: ModelWait): void {
    this.waits = this.waits.filter((x) => x !== w)
  }

  status(): ResourceStatus {
    if (this.closed) return { kind: 'closed' }
    if (this.failed !== null) return { kind: 'failed', reason: this.failed }
    if (this.finalLen !== null) return { kind: 'committed', finalLen: this.finalLen }
    if (this.cancelled) return { kind: 'cancelled' }
    return { kind: 'active' }
  }

  /** The committed bytes `0..finalLen`, as the file on disk must hold them. */
  committedBytes(): Uint8Array {
    const len = this.finalLen ?? 0
    const out = new Uint8Array(len)
    for (let i = 0; i < len; i++) out[i] = this.bytes.get(i) ?? 0
    return out
  }
}

// ---------------------------------------------------------------------------
// Arbitraries

const offsetArb = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  // Past the 64 KiB a new file starts with: the mapping grows.
  { weight: 1, arbitrary: fc.integer({ min: 65_500, max: 140_000 }) },
)
const lenArb = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 600 }) },
)
const rangeArb = fc.tuple(offsetArb, lenArb, fc.integer({ min: 0, max: 9 })).map(([s, l, back]) =>
  // Mostly well-formed; one in ten reversed (start > end).
  back === 0 && l > 0 ? { start: s + l, end: s } : { start: s, end: s + l },
)

/** One command; rare lifecycle commands keep sequences interesting. */
export const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .record({ offset: offsetArb, len: lenArb, seed: fc.integer({ min: 1, max: 255 }) })
      .map((r) => ({ op: 'writeAt' as const, ...r })),
  },
  { weight: 6, arbitrary: fc.record({ offset: offsetArb, len: lenArb }).map((r) => ({ op: 'readAt' as const, ...r })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ len: lenArb, seed: fc.integer({ min: 1, max: 255 }) })
      .map((r) => ({ op: 'writeAll' as const, ...r })),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'readAll' as const }) },
  {
    weight: 3,
    arbitrary: fc
      .option(fc.option(offsetArb, { nil: null }), { nil: undefined, freq: 3 })
      .map((finalLen) => ({ op: 'commit' as const, finalLen })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }).map((reason) => ({ op: 'fail' as const, reason })) },
  { weight: 3, arbitrary: fc.constant({ op: 'reactivate' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'interrupt' as const }) },
  // Rare: they end most of what follows.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 3 }).map((x) => (x === 0 ? { op: 'close' } : { op: 'interrupt' }) as Cmd),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 4 }).map((x) => (x === 0 ? { op: 'cancel' } : { op: 'reactivate' }) as Cmd),
  },
  { weight: 3, arbitrary: rangeArb.map((r) => ({ op: 'containsRange' as const, ...r })) },
  {
    weight: 3,
    arbitrary: fc.record({ from: offsetArb, limit: offsetArb }).map((r) => ({ op: 'nextGap' as const, ...r })),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(rangeArb, fc.boolean())
      .map(([r, abortable]) => ({ op: 'waitRange' as const, ...r, abortable })),
  },
  { weight: 1, arbitrary: fc.nat(20).map((pick) => ({ op: 'abortWait' as const, pick })) },
  { weight: 1, arbitrary: rangeArb.map((r) => ({ op: 'waitRangeTimeout' as const, ...r })) },
  { weight: 2, arbitrary: rangeArb.map((r) => ({ op: 'waitRangeSync' as const, ...r })) },
)

/** A whole sequence. */
export const sequenceArb = fc.array(cmdArb, { minLength: 1, maxLength: 60, size: 'medium' })

// ---------------------------------------------------------------------------
// Runner

/** A mismatch between model and resource. */
export class ModelMismatch extends Error {
  override get name(): string {
    return 'ModelMismatch'
  }
}

function run(fn: () => unknown): Outcome {
  try {
    return { ok: fn() }
  } catch (e) {
    if (e instanceof StorageError) return e.reason === undefined ? { err: e.code } : { err: e.code, reason: e.reason }
    throw e
  }
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `bytes[${Array.from(x).join(',')}]` : x))
}

function same(a: unknown, b: unknown): boolean {
  return show(a) === show(b)
}

function expectSame(step: string, actual: unknown, expected: unknown): void {
  if (!same(actual, expected)) {
    throw new ModelMismatch(`${step}: got ${show(actual)}, model says ${show(expected)}`)
  }
}

interface LiveWait {
  model: ModelWait
  settled?: Outcome
  promise: Promise<void>
  abort?: AbortController
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r))

/** Resolves with the outcome of `p`, or rejects after `ms` (a lost wakeup). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelMismatch(`${what}: not decided within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Opens the resource under test. */
function open(kind: ModelKind, token: CancellationToken, path: string): ResourceBase {
  switch (kind) {
    case 'mem':
      return MemResource.open(token)
    case 'mmap':
      return MmapResource.open(token, { path })
    case 'storage-mem':
      return StorageResource.from(MemResource.open(token))
    case 'storage-mmap':
      return StorageResource.from(MmapResource.open(token, { path }))
    case 'chunked':
      return AtomicChunked.open(token, { path })
  }
}

/** Statistics of a run. */
export interface RunStats {
  sequences: number
  steps: number
  /** Sequences cut short before a step that would hit a known core bug, by bug. */
  cutShort: Record<string, number>
}

/**
 * Runs one sequence against a fresh resource of `kind` at `dir/name`; throws
 * `ModelMismatch` at the first difference.
 */
export async function runSequence(
  kind: ModelKind,
  dir: string,
  name: string,
  cmds: Cmd[],
  stats: RunStats,
): Promise<void> {
  const path = join(dir, name)
  const token = new CancellationToken()
  const model = new Model(kind)
  const r = open(kind, token, path)
  const live: LiveWait[] = []
  stats.sequences++
  try {
    expectSame('kind', r.kind, kind === 'mem' || kind === 'storage-mem' ? 'mem' : 'mmap')
    expectSame('path', r.path(), kind === 'mem' || kind === 'storage-mem' ? null : path)
    for (let i = 0; i < cmds.length; i++) {
      const cmd = cmds[i]
      const step = `step ${i} ${show(cmd)}`
      const bug = model.knownBug(cmd)
      if (bug) {
        stats.cutShort[bug] = (stats.cutShort[bug] ?? 0) + 1
        break
      }
      stats.steps++
      await apply(r, model, cmd, step, token, live, path)
      await checkWaits(model, live, step)
      expectSame(`${step} status()`, r.status(), model.status())
      const closed: Outcome = { err: 'ERR_STORAGE_CLOSED' }
      expectSame(`${step} isClosed()`, r.isClosed(), model.closed)
      expectSame(
        `${step} len()`,
        run(() => r.len()),
        model.closed ? closed : { ok: model.finalLen },
      )
      expectSame(
        `${step} isEmpty()`,
        run(() => r.isEmpty()),
        model.closed ? closed : { ok: model.finalLen === 0 },
      )
    }
  } finally {
    r.close()
    model.close()
    // Every wait still open must end CLOSED now.
    await checkWaits(model, live, 'final close')
    rmSync(path, { force: true })
    rmSync(`${path}.tmp`, { force: true })
  }
}

async function checkWaits(model: Model, live: LiveWait[], step: string): Promise<void> {
  await flush()
  for (let i = live.length - 1; i >= 0; i--) {
    const w = live[i]
    const expected = w.model.result
    if (expected) {
      await bounded(w.promise, 5000, `${step} wait ${w.model.start}..${w.model.end}`)
      expectSame(`${step} pending wait ${w.model.start}..${w.model.end}`, w.settled, expected)
      live.splice(i, 1)
    } else if (w.settled) {
      throw new ModelMismatch(
        `${step}: wait ${w.model.start}..${w.model.end} settled ${show(w.settled)}, model says still pending`,
      )
    }
  }
  model.settle()
}

async function apply(
  r: ResourceBase,
  m: Model,
  cmd: Cmd,
  step: string,
  token: CancellationToken,
  live: LiveWait[],
  path: string,
): Promise<void> {
  switch (cmd.op) {
    case 'writeAt': {
      const data = pattern(cmd.seed, cmd.offset, cmd.len)
      expectSame(
        step,
        run(() => r.writeAt(cmd.offset, data)),
        m.writeAt(cmd.offset, data),
      )
      return
    }
    case 'readAt': {
      // Filled with a marker: bytes past the returned count must stay untouched.
      const buf = new Uint8Array(cmd.len).fill(0xa5)
      const got = run(() => r.readAt(cmd.offset, buf))
      const want = m.readAt(cmd.offset, cmd.len)
      if ('ok' in got && 'ok' in want) {
        const n = got.ok as number
        expectSame(`${step} count`, n, (want.ok as Uint8Array).length)
        expectSame(`${step} bytes`, buf.subarray(0, n), want.ok)
        if (buf.subarray(n).some((b) => b !== 0xa5)) throw new ModelMismatch(`${step}: wrote past the count`)
      } else expectSame(step, got, want)
      return
    }
    case 'writeAll': {
      const data = pattern(cmd.seed, 0, cmd.len)
      expectSame(
        step,
        run(() => r.writeAll(data)),
        m.writeAll(data),
      )
      checkFile(m, path, step)
      return
    }
    case 'readAll': {
      const got = run(() => new Uint8Array(r.readAll()))
      expectSame(step, got, m.readAll())
      return
    }
    case 'commit': {
      const fl = cmd.finalLen
      expectSame(
        step,
        run(() => (fl === undefined ? r.commit() : r.commit(fl))),
        m.commit(fl),
      )
      checkFile(m, path, step)
      return
    }
    case 'fail':
      expectSame(
        step,
        run(() => r.fail(cmd.reason)),
        m.fail(cmd.reason),
      )
      return
    case 'reactivate':
      expectSame(
        step,
        run(() => r.reactivate()),
        m.reactivate(),
      )
      return
    case 'interrupt':
      expectSame(
        step,
        run(() => r.interrupt()),
        m.interrupt(),
      )
      return
    case 'close':
      expectSame(
        step,
        run(() => r.close()),
        m.close(),
      )
      return
    case 'cancel':
      token.cancel()
      m.cancel()
      return
    case 'containsRange':
      expectSame(
        step,
        run(() => r.containsRange(cmd.start, cmd.end)),
        m.containsRange(cmd.start, cmd.end),
      )
      return
    case 'nextGap':
      expectSame(
        step,
        run(() => r.nextGap(cmd.from, cmd.limit)),
        m.nextGap(cmd.from, cmd.limit),
      )
      return
    case 'waitRange': {
      const decided = m.decide(cmd.start, cmd.end)
      const abort = cmd.abortable ? new AbortController() : undefined
      const mw = m.register(cmd.start, cmd.end)
      if (decided) mw.result = decided
      const w: LiveWait = { model: mw, abort, promise: Promise.resolve() }
      w.promise = r.waitRange(cmd.start, cmd.end, abort ? { signal: abort.signal } : {}).then(
        (outcome) => {
          w.settled = { ok: outcome }
        },
        (e: unknown) => {
          if (e instanceof StorageError) {
            w.settled = e.reason === undefined ? { err: e.code } : { err: e.code, reason: e.reason }
          } else if (e instanceof AbortError) {
            // As fs/promises rejects: the signal's reason is the cause.
            w.settled = { err: e.code, reason: String(e.cause) }
          } else w.settled = { err: `non-storage error: ${String(e)}` }
        },
      )
      live.push(w)
      return
    }
    case 'abortWait': {
      const open = live.filter((w) => w.abort && !w.model.result)
      if (open.length === 0) return
      const w = open[cmd.pick % open.length]
      const reason = new Error('aborted by the model test')
      w.abort?.abort(reason)
      await bounded(w.promise, 5000, `${step} aborted wait`)
      // An AbortError caused by the abort reason, not a storage error.
      expectSame(step, w.settled, { err: 'ABORT_ERR', reason: String(reason) })
      m.withdraw(w.model)
      live.splice(live.indexOf(w), 1)
      return
    }
    case 'waitRangeTimeout': {
      const decided = m.decide(cmd.start, cmd.end)
      let got: Outcome
      try {
        got = { ok: await bounded(r.waitRange(cmd.start, cmd.end, { timeoutMs: 0 }), 5000, step) }
      } catch (e) {
        if (!(e instanceof StorageError)) throw e
        got = e.reason === undefined ? { err: e.code } : { err: e.code, reason: e.reason }
      }
      // Nothing else happens while it waits: undecided means it times out.
      expectSame(step, got, decided ?? { err: 'ERR_STORAGE_TIMEOUT' })
      return
    }
    case 'waitRangeSync': {
      const decided = m.decide(cmd.start, cmd.end)
      const got = run(() => r.waitRangeSync(cmd.start, cmd.end, { timeoutMs: 0 }))
      expectSame(step, got, decided ?? { err: 'ERR_STORAGE_TIMEOUT' })
      return
    }
  }
}

/** After a successful commit of a file, the file on disk holds exactly the committed bytes. */
function checkFile(m: Model, path: string, step: string): void {
  if (m.kind === 'mem' || m.kind === 'storage-mem' || m.finalLen === null || m.closed) return
  if (m.kind === 'chunked' && m.phase !== 'canonical') return
  expectSame(`${step} file on disk`, new Uint8Array(readFileSync(path)), m.committedBytes())
  if (m.kind === 'chunked' && existsSync(`${path}.tmp`)) {
    throw new ModelMismatch(`${step}: ${path}.tmp still exists after the commit renamed it`)
  }
}

/** Default number of sequences for each kind in `npm test` (10,000 in total). */
export const DEFAULT_RUNS: Record<ModelKind, number> = {
  mem: 2500,
  mmap: 2500,
  'storage-mem': 1000,
  'storage-mmap': 1500,
  chunked: 2500,
}
