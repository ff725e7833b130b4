/**
 * Hostile arguments: every argument of every public function and method gets
 * arbitrary JavaScript values (fast-check `anything()` plus a list of nasty
 * ones: NaN, -0, 2**53, ±Infinity, bigints, other typed arrays,
 * SharedArrayBuffer, detached buffers, throwing getters and proxies, forged
 * handles, aborted signals), the other arguments valid. The only outcomes
 * allowed: a result, a TypeError/RangeError with Node's code
 * (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE), a
 * StorageError, Node's AbortError (code ABORT_ERR) for an aborted signal,
 * or the very exception a hostile value's own trap threw. Among the nasty
 * values: forged Uint8Arrays (a Proxy, an object with its prototype, typed
 * arrays tagged 'Uint8Array'), option getters that answer differently the
 * second time, signal-likes without removeEventListener or with a throwing
 * addEventListener.
 * Never a crash; and committed resources (a file and a memory buffer) never
 * change a byte.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import test from 'ava'
import fc from 'fast-check'
import {
  Atomic,
  AtomicChunked,
  CancellationToken,
  MemCoverage,
  MemResource,
  MmapResource,
  Resource,
  ResourceBase,
  StorageError,
  StorageResource,
} from '@kithara/storage'
import { SEED } from './seed.js'

const RUNS = Number(process.env.KITHARA_HOSTILE_RUNS ?? 150)

/** Thrown by the traps of hostile values: passing it through is allowed. */
const TRAP = new Error('thrown by a hostile value')
const trap = (): never => {
  throw TRAP
}

// Relative paths from hostile options land in a scratch directory.
const SCRATCH = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : require('node:os').tmpdir(), 'kithara-hostile-'))
process.chdir(SCRATCH)
test.after.always(() => {
  process.chdir('/')
  rmSync(SCRATCH, { recursive: true, force: true })
})

/**
 * A hostile value built only inside the property: fast-check itself reads
 * properties of generated values (clone and print hooks), which a throwing
 * proxy or getter would turn against it.
 */
class Lazy {
  constructor(
    readonly label: string,
    readonly make: () => unknown,
  ) {}
  [fc.toStringMethod](): string {
    return this.label
  }
}

/** The argument list as the call sees it. */
function materialize(args: unknown[]): unknown[] {
  return args.map((a) => (a instanceof Lazy ? a.make() : a))
}

function detachedView(): Uint8Array {
  const ab = new ArrayBuffer(8)
  const view = new Uint8Array(ab)
  structuredClone(ab, { transfer: [ab] })
  return view
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

/** `value` with an own `Symbol.toStringTag` of 'Uint8Array': a typed array in disguise. */
const taggedUint8 = <T extends object>(value: T): T =>
  Object.defineProperty(value, Symbol.toStringTag, { value: 'Uint8Array', configurable: true })

/** An object whose `key` answers `first` on the first read and `later` on every read after. */
function flipping(key: string, first: unknown, later: unknown, rest: object = {}): object {
  let reads = 0
  return Object.defineProperty({ ...rest }, key, { enumerable: true, get: () => (reads++ === 0 ? first : later) })
}

const throwingProxy = (): object =>
  new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap })

const nasty = fc.constantFrom<unknown[]>(
  Number.NaN,
  -0,
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  -(2 ** 53),
  2 ** 64,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  0n,
  1n,
  -1n,
  2n ** 64n,
  '',
  '0',
  '12',
  'auto',
  'readOnly',
  'readWrite',
  'bogus',
  'ready',
  'mmap',
  'mem',
  'write',
  'commit',
  '\u0000',
  'a\u0000b',
  true,
  false,
  null,
  undefined,
  Symbol('hostile'),
  Symbol.iterator,
  () => 1,
  class Foo {},
  [],
  [1, 2, 3],
  {},
  Object.create(null),
  new Int8Array(4),
  new Uint16Array(2),
  new Int32Array(2),
  new Float32Array(2),
  new Float64Array(1),
  new BigInt64Array(1),
  new BigUint64Array(1),
  new Uint8ClampedArray(4),
  new DataView(new ArrayBuffer(4)),
  new ArrayBuffer(8),
  new SharedArrayBuffer(8),
  new Uint8Array(new SharedArrayBuffer(8)),
  new Uint8Array(new SharedArrayBuffer(16), 4, 8),
  Buffer.alloc(0),
  new Uint8Array(0),
  detachedView(),
  new Date(),
  /re/,
  new Map([[1, 2]]),
  new Set([1]),
  new WeakMap(),
  new Error('plain'),
  Object(1),
  Object('str'),
  new Lazy('throwing proxy', throwingProxy),
  new Lazy('revoked proxy', revokedProxy),
  new Lazy('throwing valueOf/toString', () => ({ valueOf: trap, toString: trap, [Symbol.toPrimitive]: trap })),
  new Lazy('{ get path() throws }', () => ({
    get path() {
      return trap()
    },
  })),
  new Lazy('{ get timeoutMs() throws }', () => ({
    get timeoutMs() {
      return trap()
    },
  })),
  new Lazy('{ get signal() throws }', () => ({
    get signal() {
      return trap()
    },
  })),
  new Lazy('{ get initialData() throws }', () => ({
    get initialData() {
      return trap()
    },
  })),
  { __kithara: 'resource', id: 1e9, kind: 'mem' },
  { __kithara: 'resource', id: 1, kind: 'mmap' },
  { __kithara: 'resource', id: -1, kind: 'mem' },
  { __kithara: 'resource', id: 1.5, kind: 'bogus' },
  { __kithara: 'token', id: 123456 },
  { __kithara: 'token', id: Number.NaN },
  new AbortController().signal,
  AbortSignal.abort(TRAP),
  { signal: AbortSignal.abort(TRAP) },
  { signal: {} },
  { timeoutMs: Number.NaN },
  { timeoutMs: -1 },
  { timeoutMs: Number.POSITIVE_INFINITY },
  { start: 5, end: 2 },
  { start: -1 },
  { end: 2 ** 53 },
  { path: 123 },
  { path: '' },
  { path: '.' },
  { path: 'x'.repeat(5000) },
  { path: 'nested/dir/f.bin', mode: 'bogus' },
  { path: 'ok.bin', initialLen: -1 },
  { path: 'ok.bin', initialLen: 1.5 },
  { path: 'ok.bin', persistRanges: 'yes' },
  { path: 'ok.bin', mode: 'readOnly' },
  { capacity: Number.NaN },
  { capacity: 2 ** 53 - 1 },
  { initialData: [1, 2] },
  { initialData: new Uint16Array(2) },
  { initialData: new Uint8Array([1, 2, 3]) },
  // Issue 17, item 14: validation bypasses that reached napi-rs as uncoded errors.
  new Lazy('Proxy of a Uint8Array', () => new Proxy(new Uint8Array(4), {})),
  new Lazy('Object.create(Uint8Array.prototype)', () => Object.create(Uint8Array.prototype)),
  new Lazy("DataView tagged 'Uint8Array'", () => taggedUint8(new DataView(new ArrayBuffer(4)))),
  new Lazy("Float64Array tagged 'Uint8Array'", () => taggedUint8(new Float64Array(1))),
  new Lazy('{ initialData: Proxy of a Uint8Array }', () => ({ initialData: new Proxy(new Uint8Array(2), {}) })),
  new Lazy('{ path } valid, then a number', () => flipping('path', 'flip.bin', 8)),
  new Lazy('{ initialLen } valid, then 1.5', () => flipping('initialLen', 16, 1.5, { path: 'flip2.bin' })),
  new Lazy('{ mode } valid, then bogus', () => flipping('mode', 'auto', 'bogus', { path: 'flip3.bin' })),
  new Lazy('{ capacity } valid, then a string', () => flipping('capacity', 8, 'x')),
  new Lazy('{ initialData } valid, then an Array', () => flipping('initialData', new Uint8Array(2), [1, 2])),
  new Lazy('{ expectedLen } valid, then -1', () => flipping('expectedLen', 64, -1)),
  new Lazy('{ timeoutMs } valid, then NaN', () => flipping('timeoutMs', 1, Number.NaN)),
  new Lazy('{ start } valid, then -1', () => flipping('start', 0, -1)),
  new Lazy('{ etag } valid, then an object', () => flipping('etag', '"e"', {})),
  new Lazy('{ id } valid, then 1.5', () => flipping('id', 1, 1.5, { __kithara: 'resource', kind: 'mem' })),
  { path: 'nul\u0000in.bin' },
  { path: 'ok.bin', initialLen: 1.5 },
  { path: 'ok.bin', expectedLen: 1.5 },
  { expectedLen: -1 },
  { expectedLen: 3 },
  { etag: 1 },
  { user: 1n },
  { eTag: '"x"' },
  // Issue 17, item 12: signals that are not quite signals.
  { aborted: false, addEventListener() {} },
  { signal: { aborted: false, addEventListener() {} } },
  new Lazy('{ signal: addEventListener throws }', () => ({
    signal: { aborted: false, reason: undefined, addEventListener: trap, removeEventListener() {} },
  })),
  new Lazy('{ signal: aborted getter throws }', () => ({
    signal: {
      get aborted() {
        return trap()
      },
      addEventListener() {},
      removeEventListener() {},
    },
  })),
)

/**
 * Keeps accepted-but-huge sizes from allocating gigabytes for real (a
 * legitimate request, not the point here), and any `path` inside the scratch
 * directory: integers between 1 MiB and 2**50 are folded below 1 MiB.
 */
function tame(v: unknown, depth = 0): unknown {
  if (typeof v === 'number' && Number.isInteger(v) && v > 2 ** 20 && v < 2 ** 50) return v % 2 ** 20
  if (depth < 2 && v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k)
      if (!d || !('value' in d)) {
        Object.defineProperty(out, k, d ?? {})
        continue
      }
      out[k] =
        k === 'path' && typeof d.value === 'string'
          ? `p-${d.value.replace(/[/\\]/g, '_').slice(0, 40)}`
          : tame(d.value, depth + 1)
    }
    return out
  }
  return v
}

const hostile: fc.Arbitrary<unknown> = fc
  .oneof(
    { weight: 2, arbitrary: nasty },
    {
      weight: 1,
      arbitrary: fc.anything({
        maxDepth: 2,
        withBigInt: true,
        withBoxedValues: true,
        withMap: true,
        withSet: true,
        withObjectString: true,
        withNullPrototype: true,
        withTypedArray: true,
        withSparseArray: true,
        withDate: true,
      }),
    },
  )
  .map((v) => tame(v))

// ---------------------------------------------------------------------------
// Valid arguments

const small = fc.integer({ min: 0, max: 4096 })
const bytes = fc.uint8Array({ maxLength: 64 })

/** A committed file and a committed memory buffer: their bytes must never change. */
const GUARD_BYTES = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31 + 7) & 0xff))
const guardPath = join(SCRATCH, 'guarded.bin')
writeFileSync(guardPath, GUARD_BYTES)

interface World {
  token: CancellationToken
  guardedFile: ResourceBase
  guardedMem: ResourceBase
  active: ResourceBase
  atomic: Atomic
}

function openWorld(): World {
  const token = new CancellationToken()
  return {
    token,
    guardedFile: MmapResource.open(token, { path: guardPath }),
    guardedMem: MemResource.open(token, { initialData: GUARD_BYTES }),
    active: MemResource.open(token),
    atomic: new Atomic(MemResource.open(token)),
  }
}

/** Times a write stream's documented abort failed a committed resource (see below). */
let streamFailedCommitted = 0

function checkGuarded(w: World): string | null {
  for (const [name, r] of [
    ['file', w.guardedFile],
    ['mem', w.guardedMem],
  ] as const) {
    const st = r.status()
    if (st.kind === 'failed' && st.reason.startsWith('write stream destroyed')) {
      // An aborted write stream must leave a committed resource alone.
      streamFailedCommitted++
      return `${name}: an aborted write stream failed a committed resource`
    }
    if (st.kind !== 'committed' || st.finalLen !== GUARD_BYTES.length) return `${name}: status ${JSON.stringify(st)}`
    if (!r.readAll().equals(GUARD_BYTES)) return `${name}: committed bytes changed`
  }
  if (!readFileSync(guardPath).equals(GUARD_BYTES)) return 'file on disk changed'
  return null
}

// ---------------------------------------------------------------------------
// Targets: every public function and method, with valid arguments per position

type Receiver = (w: World) => unknown

interface Target {
  name: string
  /** Valid arguments, one arbitrary per position. */
  args: Array<fc.Arbitrary<unknown>>
  call: (w: World, args: unknown[]) => unknown
  /** Results to close (resources this call opened). */
  opens?: boolean
}

const validToken = fc
  .constantFrom('token', 'signal')
  .map((k) => (k === 'token' ? new CancellationToken() : new AbortController().signal))
const validPath = fc.constantFrom('a.bin', 'b.bin', 'sub/c.bin').map((p) => join(SCRATCH, p))
const mmapOpts = fc.record(
  {
    path: validPath,
    initialLen: fc.option(small, { nil: undefined }),
    mode: fc.constantFrom('auto', 'readWrite', 'readOnly'),
    expectedLen: fc.option(small, { nil: undefined }),
  },
  { requiredKeys: ['path'] },
)
const memOpts = fc.option(
  fc.record(
    { initialData: fc.option(bytes, { nil: null }), capacity: fc.option(small, { nil: null }) },
    { requiredKeys: [] },
  ),
  { nil: undefined },
)

/** Methods on the resource every receiver gives. */
function methodTargets(on: string, receiver: Receiver, guarded: boolean): Target[] {
  const m = (name: string, args: Array<fc.Arbitrary<unknown>>) => ({
    name: `${on}.${name}`,
    args,
    call: (w: World, a: unknown[]) => (receiver(w) as Record<string, (...x: unknown[]) => unknown>)[name](...a),
  })
  const list: Target[] = [
    m('writeAt', [small, bytes]),
    m('readAt', [small, bytes]),
    m('writeAll', [bytes]),
    m('readAll', [hostile]),
    m('waitRange', [small, small, fc.record({ timeoutMs: fc.integer({ min: 0, max: 2 }) })]),
    m('containsRange', [small, small]),
    m('nextGap', [small, small]),
    m('status', [hostile]),
    m('len', [hostile]),
    m('isEmpty', [hostile]),
    m('path', [hostile]),
    m('share', [hostile]),
    m('on', [fc.constantFrom('write', 'commit', 'fail', 'close', 'error'), fc.constant(() => {})]),
    m('once', [fc.constantFrom('write', 'commit', 'fail', 'close', 'error'), fc.constant(() => {})]),
    m('off', [fc.constantFrom('write', 'commit', 'fail', 'close', 'error'), fc.constant(() => {})]),
    m('createReadStream', [
      fc.record({ start: small, end: small, timeoutMs: fc.integer({ min: 0, max: 2 }) }, { requiredKeys: [] }),
    ]),
    m('metadata', [hostile]),
    m('recovery', [hostile]),
    m('sync', [hostile]),
    m('createWriteStream', [fc.record({ start: small }, { requiredKeys: [] })]),
  ]
  if (guarded) {
    // Decided at once on a committed resource, so a hostile-but-valid call never blocks.
    list.push(m('waitRangeSync', [small, small, fc.record({ timeoutMs: fc.integer({ min: 0, max: 2 }) })]))
  } else {
    list.push(
      m('commit', [fc.option(small, { nil: undefined })]),
      m('setExpectedLen', [fc.option(small, { nil: null })]),
      m('setMetadata', [
        fc.record(
          { etag: fc.option(fc.string({ maxLength: 8 }), { nil: null }), user: fc.jsonValue({ maxDepth: 2 }) },
          { requiredKeys: [] },
        ),
      ]),
      m('fail', [fc.string({ maxLength: 8 })]),
      m('reactivate', [hostile]),
      m('interrupt', [hostile]),
      m('flush', [hostile]),
      m('close', [hostile]),
    )
  }
  return list
}

const targets: Target[] = [
  ...methodTargets('committedFile', (w) => w.guardedFile, true),
  ...methodTargets('committedMem', (w) => w.guardedMem, true),
  ...methodTargets('storage(committedFile)', (w) => StorageResource.from(w.guardedFile), true),
  ...methodTargets('active', (w) => w.active, false),
  ...methodTargets('atomic', (w) => w.atomic, false),
  { name: 'Atomic#writeAllDurable', args: [bytes], call: (w, a) => w.atomic.writeAllDurable(a[0] as Uint8Array) },
  {
    name: 'MmapResource.open',
    args: [validToken, mmapOpts],
    call: (_w, a) => MmapResource.open(a[0] as never, a[1] as never),
    opens: true,
  },
  {
    name: 'MemResource.open',
    args: [validToken, memOpts],
    call: (_w, a) => MemResource.open(a[0] as never, a[1] as never),
    opens: true,
  },
  {
    name: 'Resource.open(mmap)',
    args: [validToken, mmapOpts],
    call: (_w, a) => Resource.open(a[0] as never, a[1] as never),
    opens: true,
  },
  {
    name: 'Resource.open(mem)',
    args: [validToken, memOpts],
    call: (_w, a) => Resource.open(a[0] as never, a[1] as never),
    opens: true,
  },
  {
    name: 'AtomicChunked.open',
    args: [validToken, mmapOpts],
    call: (_w, a) => AtomicChunked.open(a[0] as never, a[1] as never),
    opens: true,
  },
  {
    name: 'Resource.fromShared',
    args: [fc.constant(null)],
    call: (w, a) => Resource.fromShared((a[0] ?? w.active.share()) as never),
  },
  {
    name: 'MmapResource.fromShared',
    args: [fc.constant(null)],
    call: (w, a) => MmapResource.fromShared((a[0] ?? w.guardedFile.share()) as never),
  },
  {
    name: 'MemResource.fromShared',
    args: [fc.constant(null)],
    call: (w, a) => MemResource.fromShared((a[0] ?? w.active.share()) as never),
  },
  {
    name: 'StorageResource.fromShared',
    args: [fc.constant(null)],
    call: (w, a) => StorageResource.fromShared((a[0] ?? w.active.share()) as never),
  },
  {
    name: 'StorageResource.from',
    args: [fc.constant(null)],
    call: (w, a) => StorageResource.from((a[0] ?? w.active) as never),
  },
  { name: 'new Atomic', args: [fc.constant(null)], call: (w, a) => new Atomic((a[0] ?? w.active) as never) },
  { name: 'Atomic.from', args: [fc.constant(null)], call: (w, a) => Atomic.from((a[0] ?? w.active) as never) },
  {
    name: 'new CancellationToken',
    args: [hostile],
    call: (_w, a) => new (CancellationToken as unknown as new (x: unknown) => unknown)(a[0]),
  },
  {
    name: 'CancellationToken#child/cancel/isCancelled/share',
    args: [hostile],
    call: (w, a) => {
      const c = w.token.child()
      ;(c.cancel as (x: unknown) => void)(a[0])
      return [c.isCancelled, c.share()]
    },
  },
  {
    name: 'CancellationToken.fromShared',
    args: [fc.constant(null)],
    call: (w, a) => CancellationToken.fromShared((a[0] ?? w.token.share()) as never),
  },
  {
    name: 'CancellationToken.fromSignal',
    args: [fc.constant(new AbortController().signal)],
    call: (_w, a) => CancellationToken.fromSignal(a[0] as never),
  },
  {
    name: 'new MemCoverage',
    args: [hostile],
    call: (_w, a) => new (MemCoverage as unknown as new (x: unknown) => unknown)(a[0]),
  },
  {
    name: 'MemCoverage#mark',
    args: [small, small],
    call: (_w, a) => new MemCoverage().mark(a[0] as number, a[1] as number),
  },
  { name: 'MemCoverage#setTotalSize', args: [small], call: (_w, a) => new MemCoverage().setTotalSize(a[0] as number) },
  { name: 'MemCoverage#nextGap', args: [small], call: (_w, a) => new MemCoverage().nextGap(a[0] as number) },
  {
    name: 'MemCoverage#ranges/isComplete/totalSize',
    args: [hostile],
    call: () => {
      const c = new MemCoverage()
      return [c.ranges(), c.isComplete(), c.totalSize()]
    },
  },
]

// ---------------------------------------------------------------------------
// Outcomes

const ARG_CODES = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE'])

/** Null if `e` is an allowed failure, else why not. */
function disallowed(e: unknown): string | null {
  if (e === TRAP) return null
  // A wait or stream given an aborted signal rejects with fs/promises' AbortError.
  if (e instanceof Error && e.name === 'AbortError' && (e as { code?: unknown }).code === 'ABORT_ERR') return null
  // The engine's own error for touching a revoked proxy at all: the hostile
  // value's exception, like TRAP (Node's validators throw the same).
  if (e instanceof TypeError && /proxy that has been revoked/.test(e.message)) return null
  if (e instanceof StorageError)
    return typeof e.code === 'string' && e.code.startsWith('ERR_STORAGE_') ? null : `StorageError code ${e.code}`
  const code = (e as { code?: unknown } | null)?.code
  if (e instanceof TypeError && ARG_CODES.has(String(code))) return null
  if (e instanceof RangeError && code === 'ERR_OUT_OF_RANGE') return null
  return `${(e as Error)?.constructor?.name ?? typeof e} ${String(code ?? '')}: ${String((e as Error)?.message ?? e)}`
}

function describe(args: unknown[]): string {
  return fc.stringify(args)
}

/** Runs one call; returns a violation or null. Async outcomes are checked later via `later`. */
function attempt(t: Target, w: World, args: unknown[], later: Array<Promise<string | null>>): string | null {
  let result: unknown
  try {
    result = t.call(w, materialize(args))
  } catch (e) {
    const bad = disallowed(e)
    return bad && `${t.name}(${describe(args)}) threw ${bad}`
  }
  if (result instanceof Promise) {
    later.push(
      result.then(
        () => null,
        (e) => {
          const bad = disallowed(e)
          return bad && `${t.name}(${describe(args)}) rejected ${bad}`
        },
      ),
    )
  } else if (result instanceof Readable || result instanceof Writable) {
    const s = result
    later.push(
      new Promise((resolve) => {
        s.once('error', (e) => {
          const bad = disallowed(e)
          resolve(bad && `${t.name}(${describe(args)}) emitted ${bad}`)
        })
        s.once('close', () => resolve(null))
        s.destroy()
      }),
    )
  } else if (t.opens && result instanceof ResourceBase) {
    result.close()
  }
  return null
}

function closeWorld(w: World): void {
  w.active.close()
  w.atomic.close()
  w.guardedFile.close()
  w.guardedMem.close()
}

for (const target of targets) {
  const positions = target.args.length
  const variants: Array<{ label: string; arb: fc.Arbitrary<unknown[]> }> = []
  for (let i = 0; i < positions; i++) {
    const arbs = target.args.map((a, j) => (j === i ? hostile : a))
    variants.push({ label: `argument ${i}`, arb: fc.tuple(...arbs) })
  }
  variants.push({ label: 'every argument', arb: fc.tuple(...target.args.map(() => hostile)) })
  // One more hostile argument than the method takes.
  variants.push({ label: 'extra argument', arb: fc.tuple(...target.args, hostile) })

  test(`hostile: ${target.name}`, async (t) => {
    // Bounded, scaled to the run (`npm run test:long` raises RUNS).
    t.timeout(60_000 + RUNS * variants.length * 20)
    let calls = 0
    const failedBefore = streamFailedCommitted
    for (const v of variants) {
      const world = openWorld()
      const later: Array<Promise<string | null>> = []
      try {
        fc.assert(
          fc.property(v.arb, (args) => {
            calls++
            const bad = attempt(target, world, args, later)
            if (bad) throw new Error(bad)
            const changed = checkGuarded(world)
            if (changed) throw new Error(`${target.name}(${describe(args)}): ${changed}`)
          }),
          { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
        )
      } finally {
        // Decides every wait still pending and ends every stream.
        closeWorld(world)
      }
      for (const bad of await Promise.all(later)) if (bad) t.fail(`${v.label}: ${bad}`)
    }
    t.log(
      `${calls} calls (seed ${SEED})${streamFailedCommitted > failedBefore ? `, committed resources failed by an aborted write stream: ${streamFailedCommitted - failedBefore}` : ''}`,
    )
    t.pass()
  })
}
