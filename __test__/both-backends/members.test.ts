import { Atomic, CancellationToken, MemResource, Resource, StorageResource } from '@kithara/storage'
/** DESIGN.md members on every in-memory resource class. */
import test from 'ava'
import { bytes } from '../helpers.js'
import { memberTests } from '../members.js'

memberTests(test, {
  name: 'MemResource',
  kind: 'mem',
  hasPath: false,
  open: () => MemResource.open(new CancellationToken()),
})
memberTests(test, {
  name: 'StorageResource(mem)',
  kind: 'mem',
  hasPath: false,
  open: () => StorageResource.from(MemResource.open(new CancellationToken())),
})
memberTests(test, {
  name: 'Atomic(mem)',
  kind: 'mem',
  hasPath: false,
  open: () => new Atomic(MemResource.open(new CancellationToken())),
})

test('MemResource.open: initialData is committed, capacity accepted, opts optional', (t) => {
  const token = new CancellationToken()
  const a = MemResource.open(token, { initialData: bytes(5) })
  t.deepEqual(a.status(), { kind: 'committed', finalLen: 5 })
  t.deepEqual(new Uint8Array(a.readAll()), bytes(5))
  const b = MemResource.open(token, { capacity: 1024 })
  t.deepEqual(b.status(), { kind: 'active' })
  const c = MemResource.open(token, { initialData: null, capacity: null })
  t.is(c.len(), null)
  const d = MemResource.open(token, {})
  t.is(d.kind, 'mem')
})

test('Resource.open without path gives a MemResource; an AbortSignal works as a token', (t) => {
  const ac = new AbortController()
  const r = Resource.open(ac.signal, {})
  t.true(r instanceof MemResource)
  const r2 = Resource.open(ac.signal, undefined)
  t.true(r2 instanceof MemResource)
  ac.abort()
  const err = t.throws(() => r.writeAt(0, bytes(1)))
  t.is((err as { code?: string }).code, 'ERR_STORAGE_CANCELLED')
  t.deepEqual(r.status(), { kind: 'cancelled' })
})

test('StorageResource.from keeps the kind and the data; Atomic.from and writeAllDurable', (t) => {
  const m = MemResource.open(new CancellationToken())
  m.writeAt(0, bytes(3))
  const s = StorageResource.from(m)
  t.is(s.kind, 'mem')
  t.true(s.containsRange(0, 3))
  const a = Atomic.from(s)
  a.writeAllDurable(bytes(7, 1))
  t.is(m.len(), 7)
  t.deepEqual(new Uint8Array(m.readAll()), bytes(7, 1))
  t.throws(() => StorageResource.from({} as never), { instanceOf: TypeError })
  t.throws(() => new Atomic(null as never), { instanceOf: TypeError })
})

test('MemResource.fromShared and StorageResource.fromShared', (t) => {
  const m = MemResource.open(new CancellationToken())
  m.writeAt(0, bytes(2))
  const h = m.share()
  t.true(MemResource.fromShared(h as never).containsRange(0, 2))
  t.true(StorageResource.fromShared(h).containsRange(0, 2))
})
