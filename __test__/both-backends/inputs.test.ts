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
