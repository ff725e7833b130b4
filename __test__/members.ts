import { once, on as onEvents } from 'node:events'
import { Atomic, Resource, type ResourceBase, StorageError, StorageResource, WaitOutcome } from '@kithara/storage'
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
      ['setExpectedLen', () => r.setExpectedLen(10)],
      ['metadata', () => r.metadata()],
      ['setMetadata', () => r.setMetadata({ etag: '"x"' })],
      ['recovery', () => r.recovery()],
    ]
    for (const [name, call] of calls) {
      const err = t.throws(call, { instanceOf: StorageError }, name)
      t.is(err?.code, 'ERR_STORAGE_CLOSED', name)
    }
    const later = await t.throwsAsync(r.waitRange(0, 1), { instanceOf: StorageError })
    t.is(later?.code, 'ERR_STORAGE_CLOSED')
    const synced = await t.throwsAsync(r.sync(), { instanceOf: StorageError })
    t.is(synced?.code, 'ERR_STORAGE_CLOSED', 'sync() rejects, it does not throw')
    t.deepEqual(r.status(), { kind: 'closed' })
  })

  test(`${f.name}: expected length: len() answers it, waits past it are eof, commit needs every byte`, async (t) => {
    const r = f.open(t)
    r.setExpectedLen(10)
    t.is(r.len(), 10)
    t.deepEqual(r.status(), { kind: 'active' })
    t.false(r.isEmpty())
    t.is(await r.waitRange(10, 20), 'eof')
    t.is(r.waitRangeSync(15, 16), 'eof')
    const across = r.waitRange(6, 100)
    const before = r.waitRange(0, 2)
    t.deepEqual(r.nextGap(0, 1000), { start: 0, end: 10 }, 'nothing is missing past it')
    const past = t.throws(() => r.writeAt(8, bytes(3)), { instanceOf: StorageError })
    t.is(past?.code, 'ERR_STORAGE_LENGTH_MISMATCH')
    r.writeAt(6, bytes(4, 6))
    t.is(await across, 'ready', 'ready once the bytes below the end are there')
    const incomplete = t.throws(() => r.commit(), { instanceOf: StorageError })
    t.is(incomplete?.code, 'ERR_STORAGE_INCOMPLETE')
    t.regex(String(incomplete?.message), /0\.\.6/)
    const other = t.throws(() => r.commit(8), { instanceOf: StorageError })
    t.is(other?.code, 'ERR_STORAGE_LENGTH_MISMATCH')
    t.deepEqual(r.status(), { kind: 'active' }, 'refused commits change nothing')
    r.writeAt(0, bytes(6))
    t.is(await before, 'ready')
    r.commit()
    t.deepEqual(r.status(), { kind: 'committed', finalLen: 10 })
    t.deepEqual(new Uint8Array(r.readAll()), bytes(10))
    // Committed: only its own length fits.
    const late = t.throws(() => r.setExpectedLen(11), { instanceOf: StorageError })
    t.is(late?.code, 'ERR_STORAGE_LENGTH_MISMATCH')
    r.close()
  })

  test(`${f.name}: expected length set while waits are pending decides them; null clears it`, async (t) => {
    const r = f.open(t)
    r.writeAt(0, bytes(4))
    const past = r.waitRange(8, 9)
    const across = r.waitRange(2, 9)
    r.setExpectedLen(4)
    t.deepEqual(await Promise.all([past, across]), ['eof', 'ready'])
    const below = t.throws(() => r.setExpectedLen(3), { instanceOf: StorageError })
    t.is(below?.code, 'ERR_STORAGE_LENGTH_MISMATCH', 'bytes are written past 3')
    r.setExpectedLen(null)
    t.is(r.len(), null)
    r.writeAt(4, bytes(2, 4))
    r.commit()
    t.is(r.len(), 6)
    t.throws(() => r.setExpectedLen(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => r.setExpectedLen('4' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    r.close()
  })

  test(`${f.name}: metadata: set, read back, removed with null, checked`, (t) => {
    const r = f.open(t)
    t.deepEqual(r.metadata(), {})
    r.setMetadata({ etag: '"v1"', lastModified: 'Tue, 01 Jul 2025 10:00:00 GMT', url: 'http://o/a', user: { n: 1 } })
    r.setMetadata({ contentType: 'video/mp4', url: null })
    t.deepEqual(r.metadata(), {
      etag: '"v1"',
      lastModified: 'Tue, 01 Jul 2025 10:00:00 GMT',
      contentType: 'video/mp4',
      user: { n: 1 },
    })
    const bad: Array<[unknown, string]> = [
      [{ etag: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ eTag: 'x' }, 'ERR_INVALID_ARG_VALUE'],
      [{ user: () => {} }, 'ERR_INVALID_ARG_VALUE'],
      [{ user: 1n }, 'ERR_INVALID_ARG_VALUE'],
      [{ user: 'x'.repeat(20_000) }, 'ERR_OUT_OF_RANGE'],
      [{ url: 'é'.repeat(5000) }, 'ERR_OUT_OF_RANGE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
    ]
    for (const [patch, code] of bad) {
      const err = t.throws(() => r.setMetadata(patch as never))
      t.is(codeOf(err), code, JSON.stringify(String(patch)))
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    t.is(codeOf(t.throws(() => r.setMetadata({ user: cyclic }))), 'ERR_INVALID_ARG_VALUE')
    t.is(r.metadata().etag, '"v1"', 'a refused patch changes nothing')
    // The limits are inclusive: 8 KiB of UTF-8 in a field, 16 KiB of JSON in `user`.
    const field = 'é'.repeat(4096)
    r.setMetadata({ url: field })
    t.is(r.metadata().url, field)
    t.is(codeOf(t.throws(() => r.setMetadata({ url: `${field}x` }))), 'ERR_OUT_OF_RANGE')
    const user = 'x'.repeat(16 * 1024 - 2)
    r.setMetadata({ user })
    t.is(r.metadata().user, user)
    t.is(codeOf(t.throws(() => r.setMetadata({ user: `${user}x` }))), 'ERR_OUT_OF_RANGE')
    r.close()
  })

  test(`${f.name}: recovery() is none for a fresh resource; sync() resolves`, async (t) => {
    const r = f.open(t)
    t.is(r.recovery(), 'none')
    r.writeAt(0, bytes(4))
    t.is(await r.sync(), undefined)
    r.close()
  })

  test(`${f.name}: events fail, error, close; a twin's and an Atomic's listeners hear them too`, async (t) => {
    const r = f.open(t)
    const twin = Resource.fromShared(r.share())
    const seen: string[] = []
    let wanted = 0
    let reached: () => void = () => {}
    /** Resolves once `n` events were seen (events arrive on later turns). */
    const seenCount = (n: number): Promise<void> =>
      new Promise((resolve) => {
        wanted = n
        reached = resolve
        if (seen.length >= n) resolve()
      })
    const push = (x: string): void => {
      seen.push(x)
      if (seen.length >= wanted) reached()
    }
    const record = (who: string, res: ResourceBase) => {
      res.on('write', ({ start, end }) => push(`${who} write ${start}-${end}`))
      res.on('fail', ({ reason }) => push(`${who} fail ${reason}`))
      res.on('error', (e) => push(`${who} error ${e.code} ${e.reason}`))
      res.on('close', () => push(`${who} close`))
    }
    record('r', r)
    record('twin', twin)
    // A wrapper subscribing later takes nothing away from the first two.
    const wrapped = f.kind === 'mem' ? new Atomic(StorageResource.from(r)) : null
    if (wrapped) wrapped.on('write', ({ start, end }) => push(`atomic write ${start}-${end}`))
    twin.writeAt(0, bytes(2))
    r.fail('gone')
    await seenCount(wrapped ? 7 : 6)
    const expected = ['write 0-2', 'fail gone', 'error ERR_STORAGE_FAILED gone']
    const of = (who: string) => seen.filter((x) => x.startsWith(`${who} `))
    t.deepEqual(
      of('r'),
      expected.map((x) => `r ${x}`),
    )
    t.deepEqual(
      of('twin'),
      expected.map((x) => `twin ${x}`),
    )
    if (wrapped) t.deepEqual(of('atomic'), ['atomic write 0-2'])
    seen.length = 0
    twin.close()
    await seenCount(2)
    t.deepEqual(seen.sort(), ['r close', 'twin close'])
  })

  test(`${f.name}: events.once(resource, 'commit') and events.on(resource, 'write')`, async (t) => {
    const r = f.open(t)
    const committed = once(r as never, 'commit')
    const writes: number[] = []
    // Listening starts here, before the first write.
    const events = onEvents(r as never, 'write')
    r.writeAt(0, bytes(3))
    for await (const [ev] of events) {
      writes.push(ev.end)
      if (ev.end === 3) r.writeAt(3, bytes(3, 3))
      else break
    }
    t.deepEqual(writes, [3, 6])
    r.commit()
    t.deepEqual(await committed, [{ finalLen: 6 }])
    r.close()
    // A commit that will not come: the failure rejects the promise.
    const other = f.open(t)
    const never = once(other as never, 'commit')
    other.fail('origin gone')
    const err = await t.throwsAsync(never, { instanceOf: StorageError })
    t.is(err?.code, 'ERR_STORAGE_FAILED')
    other.close()
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
