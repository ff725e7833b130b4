import { Resource, type ResourceBase, StorageError, WaitOutcome } from '@kithara/storage'
/**
 * Every member of the DESIGN.md table, run against any resource class: the
 * memory suite and the file suite call `memberTests` with their factories.
 */
import type { ExecutionContext, TestFn } from 'ava'
import { bytes } from './helpers.js'

/** Opens a fresh, active, empty resource of one class. */
export interface Factory {
  name: string
  kind: 'mmap' | 'mem'
  open(t: ExecutionContext): ResourceBase
  /** Whether `path()` is a file (the canonical path for AtomicChunked). */
  hasPath: boolean
  /**
   * `fail()` before commit discards the data (AtomicChunked deletes its
   * temp), so `reactivate()` refuses with ERR_STORAGE_FAILED.
   */
  failDiscards?: boolean
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string } | undefined)?.code
}

/** Registers the member tests for `f` under `test`. */
export function memberTests(test: TestFn, f: Factory): void {
  test(`${f.name}: kind, writeAt, readAt, containsRange, nextGap`, (t) => {
    const r = f.open(t)
    t.is(r.kind, f.kind)
    // Opened to write: a writer, not a follower of another process.
    t.false(r.isFollower())
    t.deepEqual(r.status(), { kind: 'active' })
    t.is(r.len(), null)
    t.false(r.isEmpty())
    t.true(r.containsRange(0, 0))
    t.false(r.containsRange(0, 1))
    r.writeAt(0, bytes(10))
    r.writeAt(20, bytes(5, 20))
    t.true(r.containsRange(0, 10))
    t.true(r.containsRange(20, 25))
    t.false(r.containsRange(0, 11))
    t.deepEqual(r.nextGap(0, 30), { start: 10, end: 20 })
    t.deepEqual(r.nextGap(20, 25), null)
    t.deepEqual(r.nextGap(0, 10), null)
    const buf = new Uint8Array(10)
    t.is(r.readAt(0, buf), 10)
    t.deepEqual(buf, bytes(10))
    const tail = new Uint8Array(5)
    t.is(r.readAt(20, tail), 5)
    t.deepEqual(tail, bytes(5, 20))
    r.close()
  })

  test(`${f.name}: ranges() merged and in order, presentBytes() their total`, (t) => {
    const r = f.open(t)
    t.deepEqual(r.ranges(), [])
    t.is(r.presentBytes(), 0)
    r.writeAt(20, bytes(3))
    r.writeAt(0, bytes(4))
    r.writeAt(4, bytes(2))
    t.deepEqual(r.ranges(), [
      { start: 0, end: 6 },
      { start: 20, end: 23 },
    ])
    t.is(r.presentBytes(), 9)
    r.commit(21)
    t.deepEqual(r.ranges(), [{ start: 0, end: 21 }])
    t.is(r.presentBytes(), 21)
    r.close()
    t.throws(() => r.ranges(), { instanceOf: StorageError, code: 'ERR_STORAGE_CLOSED' })
    t.throws(() => r.presentBytes(), { instanceOf: StorageError, code: 'ERR_STORAGE_CLOSED' })
  })

  test(`${f.name}: waitRange and waitRangeSync on written data`, async (t) => {
    const r = f.open(t)
    r.writeAt(0, bytes(8))
    t.is(await r.waitRange(0, 8), WaitOutcome.Ready)
    t.is(r.waitRangeSync(0, 8), 'ready')
    t.is(r.waitRangeSync(2, 4, { timeoutMs: 1000 }), 'ready')
    t.is(await r.waitRange(0, 8, { timeoutMs: 1000, signal: new AbortController().signal }), 'ready')
    r.close()
  })

  test(`${f.name}: commit, status, len, readAll, eof, reactivate, commit()`, async (t) => {
    const r = f.open(t)
    r.writeAt(0, bytes(10))
    r.commit(10)
    t.deepEqual(r.status(), { kind: 'committed', finalLen: 10 })
    t.is(r.len(), 10)
    t.false(r.isEmpty())
    const all = r.readAll()
    t.true(Buffer.isBuffer(all))
    t.deepEqual(new Uint8Array(all), bytes(10))
    t.is(await r.waitRange(10, 20), 'eof')
    t.is(await r.waitRange(5, 20), 'ready')
    t.is(r.waitRangeSync(12, 13), 'eof')
    r.reactivate()
    t.deepEqual(r.status(), { kind: 'active' })
    r.writeAt(10, bytes(5, 10))
    r.commit()
    t.is(r.len(), 15)
    t.deepEqual(new Uint8Array(r.readAll()), bytes(15))
    r.close()
  })
  test(`${f.name}: commit(0) is empty; commit(null)`, (t) => {
    const a = f.open(t)
    a.commit(0)
    t.true(a.isEmpty())
    t.is(a.len(), 0)
    t.is(a.readAll().length, 0)
    a.close()
    const b = f.open(t)
    b.writeAt(0, bytes(3))
    b.commit(null)
    t.is(b.len(), 3)
    b.close()
  })

  test(`${f.name}: writeAll`, (t) => {
    const r = f.open(t)
    r.writeAll(bytes(100, 7))
    t.is(r.len(), 100)
    t.deepEqual(new Uint8Array(r.readAll()), bytes(100, 7))
    r.close()
  })

  test(`${f.name}: fail, status, reactivate`, async (t) => {
    const r = f.open(t)
    r.fail('network down')
    t.deepEqual(r.status(), { kind: 'failed', reason: 'network down' })
    const err = await t.throwsAsync(r.waitRange(0, 1), { instanceOf: StorageError })
    t.is(err?.code, 'ERR_STORAGE_FAILED')
    t.is(err?.reason, 'network down')
    if (f.failDiscards) {
      t.throws(() => r.reactivate(), { instanceOf: StorageError, code: 'ERR_STORAGE_FAILED' })
      t.deepEqual(r.status(), { kind: 'failed', reason: 'network down' })
      r.close()
      return
    }
    r.reactivate()
    t.deepEqual(r.status(), { kind: 'active' })
    r.writeAt(0, bytes(1))
    t.true(r.containsRange(0, 1))
    r.close()
  })

  test(`${f.name}: interrupt wakes current waiters only`, async (t) => {
    const r = f.open(t)
    const p = r.waitRange(0, 4)
    r.interrupt()
    t.is(await p, 'interrupted')
    const later = r.waitRange(0, 4)
    r.writeAt(0, bytes(4))
    t.is(await later, 'ready')
    r.close()
  })

  test(`${f.name}: path`, (t) => {
    const r = f.open(t)
    const p = r.path()
    if (f.hasPath) t.is(typeof p, 'string')
    else t.is(p, null)
    r.close()
  })

  test(`${f.name}: share / Resource.fromShared is the same resource`, (t) => {
    const r = f.open(t)
    const h = r.share()
    t.is(h.__kithara, 'resource')
    t.is(h.kind, f.kind)
    t.is(typeof h.id, 'number')
    const cloned = structuredClone(h)
    t.deepEqual(cloned, h)
    const other = Resource.fromShared(cloned)
    t.is(other.kind, f.kind)
    r.writeAt(0, bytes(6))
    const buf = new Uint8Array(6)
    t.is(other.readAt(0, buf), 6)
    t.deepEqual(buf, bytes(6))
    other.writeAt(6, bytes(2, 6))
    t.true(r.containsRange(0, 8))
    r.close()
    const err = t.throws(() => other.readAt(0, buf))
    t.is(codeOf(err), 'ERR_STORAGE_CLOSED')
  })

  test(`${f.name}: close is idempotent, later calls throw ERR_STORAGE_CLOSED`, async (t) => {
    const r = f.open(t)
    r.writeAt(0, bytes(4))
    const pending = r.waitRange(4, 8)
    r.close()
    r.close()
    const waitErr = await t.throwsAsync(pending, { instanceOf: StorageError })
    t.is(waitErr?.code, 'ERR_STORAGE_CLOSED')
    // status() says so, isClosed() answers, every other member throws.
    t.deepEqual(r.status(), { kind: 'closed' })
    t.true(r.isClosed())
    const calls: Array<[string, () => unknown]> = [
      ['writeAt', () => r.writeAt(0, bytes(1))],
      ['readAt', () => r.readAt(0, new Uint8Array(1))],
      ['writeAll', () => r.writeAll(bytes(1))],
      ['readAll', () => r.readAll()],
      ['waitRangeSync', () => r.waitRangeSync(0, 1)],
      ['commit', () => r.commit(1)],
      ['reactivate', () => r.reactivate()],
      ['len', () => r.len()],
      ['isEmpty', () => r.isEmpty()],
      ['containsRange', () => r.containsRange(0, 1)],
      ['containsRange of written bytes', () => r.containsRange(0, 4)],
      ['nextGap', () => r.nextGap(0, 8)],
      ['path', () => r.path()],
      ['flush', () => r.flush()],
      ['fail', () => r.fail('late')],
      ['interrupt', () => r.interrupt()],
      ['share', () => r.share()],
      ['on', () => r.on('write', () => {})],
    ]
    for (const [name, call] of calls) {
      const err = t.throws(call, { instanceOf: StorageError }, name)
      t.is(err?.code, 'ERR_STORAGE_CLOSED', name)
    }
    const later = await t.throwsAsync(r.waitRange(0, 1), { instanceOf: StorageError })
    t.is(later?.code, 'ERR_STORAGE_CLOSED')
    t.deepEqual(r.status(), { kind: 'closed' })
  })

  test(`${f.name}: closed through another handle is closed here too`, (t) => {
    const r = f.open(t)
    r.writeAt(0, bytes(4))
    r.commit()
    const other = Resource.fromShared(r.share())
    other.close()
    t.true(r.isClosed())
    t.deepEqual(r.status(), { kind: 'closed' })
    for (const [name, call] of [
      ['len', () => r.len()],
      ['containsRange', () => r.containsRange(0, 4)],
      ['readAt', () => r.readAt(0, new Uint8Array(4))],
    ] as Array<[string, () => unknown]>) {
      const err = t.throws(call, { instanceOf: StorageError }, name)
      t.is(err?.code, 'ERR_STORAGE_CLOSED', name)
    }
  })

  test(`${f.name}: Symbol.dispose closes (using)`, (t) => {
    let kept: ResourceBase | undefined
    {
      using r = f.open(t)
      kept = r
      r.writeAt(0, bytes(1))
    }
    const err = t.throws(() => kept?.writeAt(0, bytes(1)), { instanceOf: StorageError })
    t.is(err?.code, 'ERR_STORAGE_CLOSED')
    const r2 = f.open(t)
    r2[Symbol.dispose]()
    t.throws(() => r2.readAll(), { instanceOf: StorageError })
  })

  test(`${f.name}: SharedArrayBuffer data and subarray views`, (t) => {
    const r = f.open(t)
    const sab = new SharedArrayBuffer(16)
    const src = new Uint8Array(sab)
    src.set(bytes(16, 3))
    r.writeAt(0, src)
    const dstSab = new Uint8Array(new SharedArrayBuffer(16))
    t.is(r.readAt(0, dstSab), 16)
    t.deepEqual(Array.from(dstSab), Array.from(bytes(16, 3)))
    // A view at an offset into a larger buffer: only the view is written.
    const backing = new Uint8Array(32).fill(0xee)
    const view = backing.subarray(8, 12)
    t.is(r.readAt(4, view), 4)
    t.deepEqual(Array.from(backing.subarray(8, 12)), Array.from(bytes(16, 3).subarray(4, 8)))
    t.is(backing[7], 0xee)
    t.is(backing[12], 0xee)
    // Writing from a view at an offset writes only the view.
    r.writeAt(16, backing.subarray(8, 10))
    const two = new Uint8Array(2)
    t.is(r.readAt(16, two), 2)
    t.deepEqual(Array.from(two), Array.from(bytes(16, 3).subarray(4, 6)))
    // A Buffer is a Uint8Array.
    r.writeAt(18, Buffer.from([1, 2]))
    t.true(r.containsRange(16, 20))
    r.close()
  })
}
