import { CancellationToken, MemCoverage, MemResource, Resource } from '@kithara/storage'
/**
 * The bad-input table: every numeric and buffer argument of every call, with
 * Node's error classes and codes, thrown before storage is touched.
 */
import test from 'ava'
import { badBuffers, badOffsets, badOptionalOffsets, bytes, throwsArg } from '../helpers.js'

type R = ReturnType<typeof MemResource.open>
const fresh = (): R => MemResource.open(new CancellationToken())

/** Calls taking an offset/length in some position, with a valid baseline. */
const offsetCalls: Array<[string, (r: R, v: unknown) => unknown]> = [
  ['writeAt(offset)', (r, v) => r.writeAt(v as number, bytes(1))],
  ['readAt(offset)', (r, v) => r.readAt(v as number, new Uint8Array(1))],
  ['waitRangeSync(start)', (r, v) => r.waitRangeSync(v as number, 1)],
  ['waitRangeSync(end)', (r, v) => r.waitRangeSync(0, v as number)],
  ['containsRange(start)', (r, v) => r.containsRange(v as number, 1)],
  ['containsRange(end)', (r, v) => r.containsRange(0, v as number)],
  ['nextGap(from)', (r, v) => r.nextGap(v as number, 1)],
  ['nextGap(limit)', (r, v) => r.nextGap(0, v as number)],
  ['MemResource.open(capacity)', (_r, v) => MemResource.open(new CancellationToken(), { capacity: v as number })],
  ['MemCoverage.mark(start)', (_r, v) => new MemCoverage().mark(v as number, 1)],
  ['MemCoverage.mark(end)', (_r, v) => new MemCoverage().mark(0, v as number)],
  ['MemCoverage.setTotalSize', (_r, v) => new MemCoverage().setTotalSize(v as number)],
  ['MemCoverage.nextGap', (_r, v) => new MemCoverage().nextGap(v as number)],
]

for (const [name, call] of offsetCalls) {
  const table = name.includes('capacity') ? badOptionalOffsets : badOffsets
  test(`bad offsets: ${name}`, (t) => {
    const r = fresh()
    for (const bad of table) throwsArg(t, () => call(r, bad.value), bad, name)
    // Nothing reached storage.
    t.deepEqual(r.status(), { kind: 'active' })
    t.false(r.containsRange(0, 1))
  })
}

test('bad offsets: commit(finalLen) (null/undefined mean "highest written byte")', (t) => {
  const r = fresh()
  for (const bad of badOptionalOffsets) throwsArg(t, () => r.commit(bad.value as number), bad, 'commit')
  t.deepEqual(r.status(), { kind: 'active' })
})

test('bad offsets: waitRange(start/end) throw synchronously', (t) => {
  const r = fresh()
  for (const bad of badOffsets) {
    throwsArg(t, () => r.waitRange(bad.value as number, 1), bad, 'waitRange(start)')
    throwsArg(t, () => r.waitRange(0, bad.value as number), bad, 'waitRange(end)')
  }
})

const bufferCalls: Array<[string, (r: R, v: unknown) => unknown]> = [
  ['writeAt(data)', (r, v) => r.writeAt(0, v as Uint8Array)],
  ['readAt(buf)', (r, v) => r.readAt(0, v as Uint8Array)],
  ['writeAll(data)', (r, v) => r.writeAll(v as Uint8Array)],
]

for (const [name, call] of bufferCalls) {
  test(`bad buffers: ${name}`, (t) => {
    const r = fresh()
    for (const bad of badBuffers) throwsArg(t, () => call(r, bad.value), bad, name)
    t.deepEqual(r.status(), { kind: 'active' })
  })
}

test('bad buffers: MemOptions.initialData (null allowed)', (t) => {
  for (const bad of badBuffers.filter((b) => b.value !== null && b.value !== undefined)) {
    throwsArg(
      t,
      () => MemResource.open(new CancellationToken(), { initialData: bad.value as Uint8Array }),
      bad,
      'initialData',
    )
  }
})

test('bad options objects and option fields', (t) => {
  const r = fresh()
  const token = new CancellationToken()
  const typeErr = { instanceOf: TypeError }
  for (const bad of [null, 1, 'x', []]) {
    t.throws(() => MemResource.open(token, bad as never), typeErr)
    t.throws(() => r.waitRange(0, 1, bad as never), typeErr)
    t.throws(() => r.waitRangeSync(0, 1, bad as never), typeErr)
  }
  for (const bad of ['1', null, {}, 1n]) {
    t.throws(() => r.waitRange(0, 1, { timeoutMs: bad as never }), typeErr)
    t.throws(() => r.waitRangeSync(0, 1, { timeoutMs: bad as never }), typeErr)
  }
  for (const bad of [-1, Number.NaN]) {
    t.throws(() => r.waitRange(0, 1, { timeoutMs: bad }), { instanceOf: RangeError })
    t.throws(() => r.waitRangeSync(0, 1, { timeoutMs: bad }), { instanceOf: RangeError })
  }
  for (const bad of [{}, 'x', 1, null]) {
    const e = t.throws(() => r.waitRange(0, 1, { signal: bad as never }), typeErr)
    t.is((e as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  }
  for (const bad of [1, null, undefined, {}]) t.throws(() => r.fail(bad as never), typeErr)
  t.throws(() => Resource.fromShared({ __kithara: 'token', id: 1, kind: 'mem' } as never), typeErr)
  t.throws(() => Resource.fromShared({ __kithara: 'resource', id: -1, kind: 'mem' } as never), {
    instanceOf: RangeError,
  })
  const kindErr = t.throws(() => Resource.fromShared({ __kithara: 'resource', id: 1, kind: 'disk' } as never), typeErr)
  t.is((kindErr as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  t.throws(() => MemResource.fromShared({ ...r.share(), kind: 'mmap' } as never), typeErr)
  t.deepEqual(r.status(), { kind: 'active' })
})

test('error messages follow Node', (t) => {
  const r = fresh()
  const e1 = t.throws(() => r.writeAt('1' as never, bytes(1)))
  t.is(e1?.message, `The "offset" argument must be of type number. Received type string ('1')`)
  const e2 = t.throws(() => r.writeAt(-1, bytes(1)))
  t.is(
    e2?.message,
    `The value of "offset" is out of range. It must be >= 0 && <= ${Number.MAX_SAFE_INTEGER}. Received -1`,
  )
  const e3 = t.throws(() => r.readAt(0, [] as never))
  t.is(e3?.message, 'The "buf" argument must be an instance of Buffer or Uint8Array. Received an instance of Array')
  const e4 = t.throws(() => r.writeAt(1.5, bytes(1)))
  t.is(e4?.message, 'The value of "offset" is out of range. It must be an integer. Received 1.5')
})

test('the largest safe offsets are accepted by validation', (t) => {
  const r = fresh()
  t.false(r.containsRange(Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER))
  t.is(r.nextGap(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), null)
})

/** Values that pretend to be a Uint8Array (issue 17, item 14): none may reach the backend. */
function forgedBuffers(): Array<[string, unknown]> {
  const tagged = <T extends object>(v: T): T =>
    Object.defineProperty(v, Symbol.toStringTag, { value: 'Uint8Array', configurable: true })
  return [
    ['a Proxy of a Uint8Array', new Proxy(new Uint8Array(4), {})],
    ['Object.create(Uint8Array.prototype)', Object.create(Uint8Array.prototype)],
    ["a DataView tagged 'Uint8Array'", tagged(new DataView(new ArrayBuffer(4)))],
    ["a Float64Array tagged 'Uint8Array'", tagged(new Float64Array(1))],
    [
      'a plain object with Uint8Array as prototype and length',
      Object.setPrototypeOf({ length: 4 }, Uint8Array.prototype),
    ],
  ]
}

test('forged Uint8Arrays are refused with ERR_INVALID_ARG_TYPE wherever bytes are taken', (t) => {
  const r = fresh()
  const calls: Array<[string, (v: unknown) => unknown]> = [
    ['writeAt', (v) => r.writeAt(0, v as Uint8Array)],
    ['readAt', (v) => r.readAt(0, v as Uint8Array)],
    ['writeAll', (v) => r.writeAll(v as Uint8Array)],
    ['initialData', (v) => MemResource.open(new CancellationToken(), { initialData: v as Uint8Array })],
  ]
  for (const [label, value] of forgedBuffers()) {
    for (const [name, call] of calls) {
      const err = t.throws(() => call(value), { instanceOf: TypeError }, `${name} with ${label}`)
      t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE', `${name} with ${label}`)
    }
  }
  // Real ones from anywhere still pass: a Buffer, a subarray, another realm's.
  const foreign = require('node:vm').runInNewContext('new Uint8Array([7, 8])') as Uint8Array
  r.writeAt(0, foreign)
  r.writeAt(2, Buffer.from([9]))
  const back = new Uint8Array(3)
  t.is(r.readAt(0, back), 3)
  t.deepEqual([...back], [7, 8, 9])
})

test('options are read once: a getter that changes its answer cannot slip past a check', (t) => {
  /** An object whose `key` answers `first`, then `later` on every later read. */
  const flipping = (key: string, first: unknown, later: unknown, rest: object = {}): object => {
    let reads = 0
    return Object.defineProperty({ ...rest }, key, {
      enumerable: true,
      get: () => (reads++ === 0 ? first : later),
    })
  }
  const r = fresh()
  r.writeAt(0, bytes(4))
  // Each call either works with the first (valid) value or throws a Node-coded error: never the backend's.
  const attempts: Array<[string, () => unknown]> = [
    ['waitRangeSync timeoutMs', () => r.waitRangeSync(0, 4, flipping('timeoutMs', 10, 'x') as never)],
    [
      'MemResource.open capacity',
      () => MemResource.open(new CancellationToken(), flipping('capacity', 8, -1) as never),
    ],
    [
      'MemResource.open initialData',
      () => MemResource.open(new CancellationToken(), flipping('initialData', bytes(2), { length: 2 }) as never),
    ],
    [
      'MemResource.open expectedLen',
      () => MemResource.open(new CancellationToken(), flipping('expectedLen', 4, 1.5) as never),
    ],
    [
      'fromShared id',
      () => Resource.fromShared(flipping('id', r.share().id, 'x', { __kithara: 'resource', kind: 'mem' }) as never),
    ],
    ['createReadStream start', () => r.createReadStream(flipping('start', 0, -5) as never).destroy()],
    ['createWriteStream start', () => r.createWriteStream(flipping('start', 4, 'x') as never).destroy()],
    ['setMetadata etag', () => r.setMetadata(flipping('etag', '"a"', 42) as never)],
  ]
  for (const [name, call] of attempts) {
    try {
      call()
    } catch (e) {
      const code = (e as { code?: string }).code ?? ''
      t.true(/^ERR_(INVALID_ARG_TYPE|INVALID_ARG_VALUE|OUT_OF_RANGE)$/.test(code), `${name}: ${String(e)}`)
    }
  }
  t.is(r.metadata().etag, '"a"', 'the value checked is the value kept')
  t.pass()
})

test('a signal-like object without removeEventListener is refused at validation', (t) => {
  const r = fresh()
  const halfSignal = { aborted: false, addEventListener() {} }
  for (const [name, call] of [
    ['waitRange', () => r.waitRange(0, 1, { signal: halfSignal as never })],
    ['createReadStream', () => r.createReadStream({ signal: halfSignal as never })],
    ['MemResource.open token', () => MemResource.open(halfSignal as never)],
  ] as Array<[string, () => unknown]>) {
    const err = t.throws(call, { instanceOf: TypeError }, name)
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE', name)
  }
})

test('a signal whose addEventListener throws leaves no wait registered', async (t) => {
  const r = fresh()
  const pending = (): number => {
    const waits = require(require('node:path').join(__dirname, '..', '..', 'dist', 'waits.js')) as {
      pendingWaitCount(): number
    }
    return waits.pendingWaitCount()
  }
  const before = pending()
  const boom = new Error('no listeners here')
  const signal = {
    aborted: false,
    reason: undefined,
    addEventListener() {
      throw boom
    },
    removeEventListener() {},
  }
  const err = await t.throwsAsync(r.waitRange(0, 1, { signal: signal as never }))
  t.is(err, boom)
  t.is(pending(), before, 'nothing pending: the process can exit')
  // The resource never heard of it: a write decides nothing, a close rejects nothing.
  r.writeAt(0, bytes(1))
  t.is(await r.waitRange(0, 1), 'ready')
})
