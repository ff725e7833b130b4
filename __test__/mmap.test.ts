/** File-backed resources: members, modes, IO errors, Atomic, AtomicChunked, persistRanges. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  Atomic,
  AtomicChunked,
  CancellationToken,
  MmapResource,
  OpenMode,
  Resource,
  StorageError,
  StorageResource,
} from '@kithara/storage'
import test from 'ava'
import { badBuffers, badOptionalOffsets, bytes, tempDir, throwsArg } from './helpers.js'
import { memberTests } from './members.js'

let counter = 0
const fresh = (t: import('ava').ExecutionContext): string => join(tempDir(t), `file-${counter++}.bin`)

memberTests(test, {
  name: 'MmapResource',
  kind: 'mmap',
  hasPath: true,
  open: (t) => MmapResource.open(new CancellationToken(), { path: fresh(t) }),
})
memberTests(test, {
  name: 'StorageResource(mmap)',
  kind: 'mmap',
  hasPath: true,
  open: (t) => StorageResource.from(MmapResource.open(new CancellationToken(), { path: fresh(t) })),
})
memberTests(test, {
  name: 'Atomic(mmap)',
  kind: 'mmap',
  hasPath: true,
  open: (t) => new Atomic(MmapResource.open(new CancellationToken(), { path: fresh(t) })),
})
memberTests(test, {
  name: 'AtomicChunked',
  kind: 'mmap',
  hasPath: true,
  failDiscards: true,
  open: (t) => AtomicChunked.open(new CancellationToken(), { path: fresh(t) }),
})

test('Resource.open with a path gives an MmapResource (inferred type)', (t) => {
  const path = fresh(t)
  const r: MmapResource = Resource.open(new CancellationToken(), { path })
  t.true(r instanceof MmapResource)
  t.is(r.path(), path)
  r.writeAll(bytes(10))
  r.close()
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(10))
})

test('MmapResource.fromShared', (t) => {
  const r = MmapResource.open(new CancellationToken(), { path: fresh(t) })
  r.writeAt(0, bytes(3))
  const h = r.share()
  t.is(h.kind, 'mmap')
  const same = MmapResource.fromShared(h as never)
  t.true(same.containsRange(0, 3))
  r.close()
})

test('OpenMode.Auto: an existing non-empty file opens committed; writes say ERR_STORAGE_COMMITTED', (t) => {
  const path = fresh(t)
  writeFileSync(path, bytes(20))
  const r = MmapResource.open(new CancellationToken(), { path, mode: OpenMode.Auto })
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 20 })
  t.deepEqual(new Uint8Array(r.readAll()), bytes(20))
  const err = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_COMMITTED')
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(20))
  r.close()
})

test('OpenMode.ReadWrite: an existing file opens writable', (t) => {
  const path = fresh(t)
  writeFileSync(path, bytes(4))
  const r = MmapResource.open(new CancellationToken(), { path, mode: 'readWrite' })
  r.writeAt(4, bytes(2, 4))
  r.commit()
  r.close()
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(6))
})

test('an expectedLen the file contradicts refuses the open and leaves no writer holding the file', (t) => {
  const path = fresh(t)
  writeFileSync(path, bytes(10))
  const err = t.throws(() => MmapResource.open(new CancellationToken(), { path, mode: 'readWrite', expectedLen: 5 }), {
    instanceOf: StorageError,
  })
  t.is(err?.code, 'ERR_STORAGE_LENGTH_MISMATCH')
  // The refused open closed what it had opened: its lock is gone at once.
  const r = MmapResource.open(new CancellationToken(), { path, mode: 'readWrite' })
  r.reactivate()
  r.writeAt(10, bytes(2, 10))
  r.commit()
  r.close()
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(12))
})

test('OpenMode.ReadOnly: writes say ERR_STORAGE_READ_ONLY; a missing file is committed and empty', (t) => {
  const path = fresh(t)
  writeFileSync(path, bytes(4))
  const r = MmapResource.open(new CancellationToken(), { path, mode: OpenMode.ReadOnly })
  for (const call of [() => r.writeAt(0, bytes(1)), () => r.writeAll(bytes(1)), () => r.commit(1)]) {
    const err = t.throws(call, { instanceOf: StorageError })
    t.is(err?.code, 'ERR_STORAGE_READ_ONLY')
  }
  t.deepEqual(new Uint8Array(r.readAll()), bytes(4))
  r.close()
  const missing = MmapResource.open(new CancellationToken(), { path: `${path}.missing`, mode: 'readOnly' })
  t.true(missing.isEmpty())
  t.false(existsSync(`${path}.missing`))
})

test('ERR_STORAGE_IO carries errno, syscall and path (ENOTDIR)', (t) => {
  const file = fresh(t)
  writeFileSync(file, 'x')
  const path = join(file, 'child.bin')
  const err = t.throws(() => MmapResource.open(new CancellationToken(), { path }), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_IO')
  t.is(err?.errno, -20)
  t.is(typeof err?.syscall, 'string')
  t.is(err?.path, path)
  t.true(err?.message.includes(path))
  t.regex(String(err?.stack).split('\n')[1] ?? '', /mmap\.test/)
})

test('ERR_STORAGE_IO: a directory as the path', (t) => {
  const err = t.throws(() => MmapResource.open(new CancellationToken(), { path: tempDir(t), mode: 'readWrite' }), {
    instanceOf: StorageError,
  })
  t.is(err?.code, 'ERR_STORAGE_IO')
  t.is(err?.syscall, 'open')
  t.true(err?.message.includes(String(err?.path)))
})

test('ERR_STORAGE_TMP_CLAIMED: two AtomicChunked writers on one path', (t) => {
  const path = fresh(t)
  const a = AtomicChunked.open(new CancellationToken(), { path })
  const err = t.throws(() => AtomicChunked.open(new CancellationToken(), { path }), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_TMP_CLAIMED')
  a.writeAll(bytes(8))
  a.close()
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(8))
  t.false(existsSync(`${path}.tmp`))
})

test('AtomicChunked writes at <path>.tmp and renames at commit', (t) => {
  const path = fresh(t)
  const a = AtomicChunked.open(new CancellationToken(), { path })
  a.writeAt(0, bytes(5))
  t.false(existsSync(path))
  a.commit()
  t.true(existsSync(path))
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(5))
  a.close()
})

test('Atomic: writeAll replaces the whole file; writeAllDurable too', (t) => {
  const path = fresh(t)
  writeFileSync(path, bytes(50))
  const a = Atomic.from(MmapResource.open(new CancellationToken(), { path, mode: 'readWrite' }))
  a.writeAll(bytes(7, 9))
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(7, 9))
  a.writeAllDurable(bytes(3, 1))
  t.deepEqual(new Uint8Array(readFileSync(path)), bytes(3, 1))
  t.deepEqual(new Uint8Array(a.readAll()), bytes(3, 1))
  a.close()
})

test('persistRanges: an interrupted download reopens with its ranges', (t) => {
  const path = fresh(t)
  const a = MmapResource.open(new CancellationToken(), { path, persistRanges: true })
  a.writeAt(0, bytes(10))
  a.writeAt(100, bytes(10, 100))
  a.close()
  const b = MmapResource.open(new CancellationToken(), { path, persistRanges: true, mode: 'readWrite' })
  t.deepEqual(b.status(), { kind: 'active' })
  t.true(b.containsRange(0, 10))
  t.true(b.containsRange(100, 110))
  t.deepEqual(b.nextGap(0, 110), { start: 10, end: 100 })
  b.close()
})

test('initialLen and the bad-input table for MmapOptions', (t) => {
  const path = fresh(t)
  const r = MmapResource.open(new CancellationToken(), { path, initialLen: 4096, mode: 'auto' })
  r.close()
  const token = new CancellationToken()
  for (const bad of badOptionalOffsets) {
    throwsArg(t, () => MmapResource.open(token, { path, initialLen: bad.value as number }), bad, 'initialLen')
  }
  for (const bad of [undefined, null, 1, {}, Buffer.from('x')]) {
    const e = t.throws(() => MmapResource.open(token, { path: bad as never }), { instanceOf: TypeError })
    t.is((e as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  }
  const nul = t.throws(() => MmapResource.open(token, { path: 'a\u0000b' }), { instanceOf: TypeError })
  t.is((nul as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  const mode = t.throws(() => MmapResource.open(token, { path, mode: 'append' as never }), { instanceOf: TypeError })
  t.is((mode as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  t.throws(() => MmapResource.open(token, { path, persistRanges: 'yes' as never }), { instanceOf: TypeError })
  t.throws(() => MmapResource.open(token, null as never), { instanceOf: TypeError })
  t.throws(() => AtomicChunked.open(token, undefined as never), { instanceOf: TypeError })
  for (const bad of badBuffers) {
    const r2 = MmapResource.open(token, { path: fresh(t) })
    throwsArg(t, () => r2.writeAt(0, bad.value as Uint8Array), bad, 'mmap writeAt')
    r2.close()
  }
})

test('an AbortSignal opens a file resource and cancels it', (t) => {
  const ac = new AbortController()
  const r = MmapResource.open(ac.signal, { path: fresh(t) })
  ac.abort()
  const err = t.throws(() => r.writeAt(0, bytes(1)), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_CANCELLED')
  r.close()
})

test('readAt straight into a view of a large buffer after the mapping grew', (t) => {
  const r = MmapResource.open(new CancellationToken(), { path: fresh(t), initialLen: 16 })
  const big = bytes(1 << 20, 5)
  r.writeAt(0, big)
  const out = new Uint8Array((1 << 20) + 64)
  t.is(r.readAt(0, out.subarray(32, 32 + (1 << 20))), 1 << 20)
  t.deepEqual(out.subarray(32, 32 + (1 << 20)), big)
  r.close()
})
