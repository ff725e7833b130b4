import { constants } from 'node:os'
import { CancellationToken, MemResource, StorageError } from '@kithara/storage'
/** StorageError: codes, fields, stacks, and inputs that must not crash. */
import test from 'ava'
import { bytes } from '../helpers.js'

test('StorageError is an Error with a code', (t) => {
  const e = new StorageError('ERR_STORAGE_FAILED', 'resource failed: x', { reason: 'x' })
  t.true(e instanceof Error)
  t.is(e.name, 'StorageError')
  t.is(e.code, 'ERR_STORAGE_FAILED')
  t.is(e.reason, 'x')
  t.is(e.errno, undefined)
})

test('ERR_STORAGE_CANCELLED on writes, reads and waits after cancel', async (t) => {
  const token = new CancellationToken()
  const r = MemResource.open(token)
  r.writeAt(0, bytes(4))
  token.cancel()
  const w = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(w?.code, 'ERR_STORAGE_CANCELLED')
  const s = t.throws(() => r.waitRangeSync(10, 20), { instanceOf: StorageError })
  t.is(s?.code, 'ERR_STORAGE_CANCELLED')
  const a = await t.throwsAsync(r.waitRange(10, 20), { instanceOf: StorageError })
  t.is(a?.code, 'ERR_STORAGE_CANCELLED')
})

test('opening with a cancelled token', (t) => {
  const token = new CancellationToken()
  token.cancel()
  const r = MemResource.open(token)
  t.deepEqual(r.status(), { kind: 'cancelled' })
})

test('ERR_STORAGE_FAILED on writes after fail, with the reason', (t) => {
  const r = MemResource.open(new CancellationToken())
  r.fail('disk gone')
  const err = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_FAILED')
  t.is(err?.reason, 'disk gone')
  t.regex(err?.message ?? '', /disk gone/)
})

test('ERR_STORAGE_COMMITTED: writing a committed memory resource', (t) => {
  const r = MemResource.open(new CancellationToken(), { initialData: bytes(3) })
  const err = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_COMMITTED')
  t.deepEqual(new Uint8Array(r.readAll()), bytes(3))
  r.reactivate()
  r.writeAt(3, bytes(1, 3))
  r.commit()
  t.deepEqual(new Uint8Array(r.readAll()), bytes(4))
})

test('native errors get a JavaScript stack at the caller', (t) => {
  const r = MemResource.open(new CancellationToken())
  r.close()
  const err = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_CLOSED')
  const frames = String(err?.stack).split('\n').slice(1)
  t.true(frames.length > 0)
  t.regex(frames[0] ?? '', /errors\.test/)
})

test('huge capacities and offsets are errors, not crashes', (t) => {
  const token = new CancellationToken()
  const e = t.throws(() => MemResource.open(token, { capacity: Number.MAX_SAFE_INTEGER }), {
    instanceOf: StorageError,
  })
  // More than the address space (WebAssembly: ENOMEM) or than a memory
  // resource may hold (EFBIG): an I/O error either way, as a full disk is.
  t.is(e?.code, 'ERR_STORAGE_IO')
  t.true([-constants.errno.EFBIG, -constants.errno.ENOMEM].includes(e?.errno ?? 0), `errno ${e?.errno}`)
  const r = MemResource.open(token)
  const w = t.throws(() => r.writeAt(Number.MAX_SAFE_INTEGER, bytes(2)), { instanceOf: StorageError })
  t.is(w?.code, 'ERR_STORAGE_IO')
  t.is(w?.errno, -constants.errno.EFBIG)
  t.is(r.readAt(Number.MAX_SAFE_INTEGER, new Uint8Array(4)), 0)
  r.writeAt(0, bytes(2))
  t.true(r.containsRange(0, 2))
})

test('empty reads and writes', (t) => {
  const r = MemResource.open(new CancellationToken())
  r.writeAt(5, new Uint8Array(0))
  t.is(r.readAt(0, new Uint8Array(0)), 0)
  t.deepEqual(r.status(), { kind: 'active' })
})
