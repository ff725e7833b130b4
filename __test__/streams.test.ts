/**
 * createReadStream / createWriteStream and the progress events, on memory
 * resources (the download suite runs them on files against nginx).
 */
import { getEventListeners } from 'node:events'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Worker } from 'node:worker_threads'
import {
  CancellationToken,
  MemResource,
  type ResourceBase,
  StorageError,
  type WriteEvent,
  backendName,
} from '@kithara/storage'
import test from 'ava'
import { bytes, pendingWaiters, untilPending } from './helpers.js'

const open = (): MemResource => MemResource.open(new CancellationToken())
const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of s) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string } | undefined)?.code
}

test('read stream of a committed resource, whole and in ranges', async (t) => {
  const data = bytes(300_000, 3)
  const r = MemResource.open(new CancellationToken(), { initialData: data })
  t.true((await collect(r.createReadStream())).equals(data))
  t.true((await collect(r.createReadStream({ start: 1000, end: 2000 }))).equals(Buffer.from(data.subarray(1000, 2000))))
  t.true(
    (await collect(r.createReadStream({ start: 299_990, end: 400_000 }))).equals(Buffer.from(data.subarray(299_990))),
  )
  t.is((await collect(r.createReadStream({ start: 5, end: 5 }))).length, 0)
  t.is((await collect(r.createReadStream({ start: 400_000 }))).length, 0)
  const sizes: number[] = []
  for await (const c of r.createReadStream({ highWaterMark: 100_000 })) sizes.push((c as Buffer).length)
  t.deepEqual(sizes, [100_000, 100_000, 100_000])
})

test('read stream waits for ranges written later, in any order', async (t) => {
  const r = open()
  const data = bytes(40_000, 1)
  const got = collect(r.createReadStream({ highWaterMark: 4096 }))
  for (const at of [30_000, 10_000, 0, 20_000]) {
    await turn()
    r.writeAt(at, data.subarray(at, at + 10_000))
  }
  await turn()
  r.commit()
  t.true((await got).equals(Buffer.from(data)))
})

/**
 * Counts what a stream takes from `r`: every `readAt` call and the bytes it
 * returned (a spy on the instance, which the stream calls).
 */
function spyReads(r: ResourceBase): { calls: number; bytes: number } {
  const seen = { calls: 0, bytes: 0 }
  const readAt = r.readAt.bind(r)
  r.readAt = (offset: number, buf: Uint8Array): number => {
    const n = readAt(offset, buf)
    seen.calls++
    seen.bytes += n
    return n
  }
  return seen
}

/** Consumes `s` until `bytes` arrived, then stops (pauses for good); resolves with what it got. */
function consumeThenStop(s: Readable, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0
    s.on('error', reject)
    s.on('data', (c: Buffer) => {
      got += c.length
      if (got >= bytes) {
        s.pause()
        resolve(got)
      }
    })
  })
}

test('read stream honours backpressure: a consumer that stops stops the reads', async (t) => {
  const hwm = 16 * 1024
  const data = bytes(1 << 20)
  const r = MemResource.open(new CancellationToken(), { initialData: data })
  const reads = spyReads(r)
  const s = r.createReadStream({ highWaterMark: hwm })
  const consumed = await consumeThenStop(s, 4 * hwm)
  for (let i = 0; i < 50; i++) await turn()
  const stopped = { ...reads }
  t.true(stopped.bytes >= consumed, 'the spy sees the stream read')
  // What the stream read beyond what was consumed is its buffer: bounded by
  // highWaterMark (plus the chunk in flight), never the rest of the MiB.
  t.true(stopped.bytes - consumed <= 2 * hwm, `read ${stopped.bytes} bytes for a consumer that took ${consumed}`)
  t.true(s.readableLength <= hwm, `buffered ${s.readableLength}`)
  for (let i = 0; i < 50; i++) await turn()
  t.deepEqual(reads, stopped, 'reads went on while the consumer was stopped')
  // Resumed, it delivers the rest, each byte read once.
  const rest: Buffer[] = []
  for await (const c of s) rest.push(c as Buffer)
  t.is(consumed + Buffer.concat(rest).length, data.length)
  t.is(reads.bytes, data.length)
})

test('read stream of a resource still being written: a stopped consumer stops the reads', async (t) => {
  const hwm = 16 * 1024
  const r = open()
  const reads = spyReads(r)
  const s = r.createReadStream({ highWaterMark: hwm })
  const stopped = consumeThenStop(s, 2 * hwm)
  const data = bytes(1 << 20, 5)
  for (let at = 0; at < data.length; at += hwm) {
    r.writeAt(at, data.subarray(at, at + hwm))
    await turn()
  }
  const consumed = await stopped
  for (let i = 0; i < 50; i++) await turn()
  t.true(reads.bytes >= consumed, 'the spy sees the stream read')
  t.true(reads.bytes - consumed <= 2 * hwm, `read ${reads.bytes} bytes for a consumer that took ${consumed}`)
  t.true(s.readableLength <= hwm, `buffered ${s.readableLength}`)
  s.destroy()
})

test('read stream errors with the StorageError of fail, cancel and close', async (t) => {
  const failed = open()
  const p1 = collect(failed.createReadStream())
  await turn()
  failed.fail('origin gone')
  const e1 = await t.throwsAsync(p1, { instanceOf: StorageError })
  t.is(codeOf(e1), 'ERR_STORAGE_FAILED')

  const token = new CancellationToken()
  const cancelled = MemResource.open(token)
  const p2 = collect(cancelled.createReadStream())
  await turn()
  token.cancel()
  t.is(codeOf(await t.throwsAsync(p2, { instanceOf: StorageError })), 'ERR_STORAGE_CANCELLED')

  const closed = open()
  closed.writeAt(0, bytes(10))
  const s3 = closed.createReadStream({ highWaterMark: 4 })
  const p3 = collect(s3)
  await turn()
  closed.close()
  t.is(codeOf(await t.throwsAsync(p3, { instanceOf: StorageError })), 'ERR_STORAGE_CLOSED')
})

test('read stream: abort errors with an AbortError caused by the reason and leaves the resource alone', async (t) => {
  const r = open()
  const ac = new AbortController()
  const reason = new Error('user went away')
  const p = collect(r.createReadStream({ signal: ac.signal }))
  await turn()
  ac.abort(reason)
  const err = await t.throwsAsync(p, { name: 'AbortError' })
  t.is(codeOf(err), 'ABORT_ERR')
  t.is(err?.cause, reason)
  t.deepEqual(r.status(), { kind: 'active' })
  r.writeAt(0, bytes(4))
  r.commit()
  t.is((await collect(r.createReadStream())).length, 4)
  // Already aborted: fails at once.
  const early = await t.throwsAsync(collect(r.createReadStream({ signal: AbortSignal.abort(reason) })))
  t.is(early?.cause, reason)
})

test('read stream keeps waiting through interrupt()', async (t) => {
  const r = open()
  const p = collect(r.createReadStream())
  // Interrupted again and again while it waits: every time it waits again
  // for the same byte, never ends early nor reads a hole.
  for (let i = 0; i < 3; i++) {
    await untilPending(r, 1)
    r.interrupt()
    await turn()
  }
  await untilPending(r, 1)
  r.writeAt(0, bytes(8))
  r.commit()
  t.deepEqual(new Uint8Array(await p), bytes(8))
})

test('read stream lets go of its signal when it ends or is destroyed', async (t) => {
  const r = open()
  r.writeAt(0, bytes(8))
  r.commit()
  const ac = new AbortController()
  t.is((await collect(r.createReadStream({ signal: ac.signal }))).length, 8)
  const s = r.createReadStream({ signal: ac.signal, start: 8 })
  s.destroy()
  await turn()
  // A long-lived signal passed to many streams must not collect listeners.
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
})

test('read stream: destroy withdraws its wait', async (t) => {
  const r = open()
  const s = r.createReadStream()
  s.resume()
  // The stream waits for its first chunk: one wait pending in the core.
  await untilPending(r, 1)
  t.is(pendingWaiters(r), 1)
  s.destroy()
  await turn()
  t.true(s.destroyed)
  t.is(pendingWaiters(r), 0, 'the destroyed stream left its wait pending')
  r.writeAt(0, bytes(4))
  t.deepEqual(r.status(), { kind: 'active' })
})

test('stream options are validated like Node arguments', (t) => {
  const r = open()
  const bad: Array<[object, typeof TypeError | typeof RangeError, string]> = [
    [{ start: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ start: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ start: '1' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ start: 10, end: 5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ highWaterMark: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ signal: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [opts, ctor, code] of bad) {
    const e = t.throws(() => r.createReadStream(opts as never), { instanceOf: ctor }, JSON.stringify(opts))
    t.is(codeOf(e), code)
  }
  t.is(codeOf(t.throws(() => r.createWriteStream({ start: -1 }))), 'ERR_OUT_OF_RANGE')
  t.is(codeOf(t.throws(() => r.createWriteStream({ commit: 'yes' as never }))), 'ERR_INVALID_ARG_TYPE')
  t.is(codeOf(t.throws(() => r.createReadStream(null as never))), 'ERR_INVALID_ARG_TYPE')
})

test('write stream writes sequentially from start and commits on finish', async (t) => {
  const r = open()
  r.writeAt(0, Buffer.from('>>'))
  const chunks = [Buffer.from('hello'), Buffer.from(' '), new Uint8Array([119, 111, 114, 108, 100])]
  await pipeline(Readable.from(chunks), r.createWriteStream({ start: 2 }))
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 13 })
  t.is(r.readAll().toString(), '>>hello world')
})

test('write stream with commit: false leaves the resource active', async (t) => {
  const r = open()
  await pipeline(Readable.from([Buffer.from('tail')]), r.createWriteStream({ start: 4, commit: false }))
  t.deepEqual(r.status(), { kind: 'active' })
  await pipeline(Readable.from([Buffer.from('head')]), r.createWriteStream())
  t.is(r.readAll().toString(), 'headtail')
})

test('copy between resources with pipeline', async (t) => {
  const data = bytes(200_001, 7)
  const src = MemResource.open(new CancellationToken(), { initialData: data })
  const dst = open()
  await pipeline(src.createReadStream({ highWaterMark: 8192 }), dst.createWriteStream())
  t.true(dst.readAll().equals(Buffer.from(data)))
})

test('write stream destroyed with an error fails the resource; readers stop', async (t) => {
  const r = open()
  const reader = collect(r.createReadStream())
  const failing = new Readable({
    read() {
      this.push(Buffer.from('partial'))
      this.destroy(new Error('socket hang up'))
    },
  })
  await t.throwsAsync(pipeline(failing, r.createWriteStream()), { message: 'socket hang up' })
  const status = r.status()
  t.is(status.kind, 'failed')
  t.regex((status as { reason: string }).reason, /socket hang up/)
  t.is(codeOf(await t.throwsAsync(reader)), 'ERR_STORAGE_FAILED')
})

test('piece streams (commit: false): a dropped one ends alone, the others finish and stay readable', async (t) => {
  const r = open()
  const piece = 64 * 1024
  const data = Buffer.from(bytes(4 * piece, 9))
  const part = (i: number): Buffer => data.subarray(i * piece, (i + 1) * piece)
  // Each connection delivers its piece in 8 KiB chunks over several turns.
  async function* connection(i: number, dropAfter?: number): AsyncGenerator<Buffer> {
    for (let at = 0; at < piece; at += 8192) {
      if (dropAfter !== undefined && at >= dropAfter) throw new Error('ECONNRESET')
      await turn()
      yield part(i).subarray(at, at + 8192)
    }
  }
  const healthy = [0, 2, 3].map((i) =>
    pipeline(Readable.from(connection(i)), r.createWriteStream({ start: i * piece, commit: false })),
  )
  const dropped = pipeline(Readable.from(connection(1, 3 * 8192)), r.createWriteStream({ start: piece, commit: false }))
  // A reader of a healthy piece is not disturbed either.
  const reader = collect(r.createReadStream({ start: 3 * piece, end: 4 * piece }))
  await t.throwsAsync(dropped, { message: 'ECONNRESET' })
  t.deepEqual(r.status(), { kind: 'active' }, 'the dropped piece failed the whole resource')
  await Promise.all(healthy)
  t.true((await reader).equals(part(3)))
  for (const i of [0, 2, 3]) {
    t.true(r.containsRange(i * piece, (i + 1) * piece))
    const back = Buffer.alloc(piece)
    t.is(r.readAt(i * piece, back), piece)
    t.true(back.equals(part(i)))
  }
  // What the dropped connection delivered stays; the rest is the gap to retry.
  t.deepEqual(r.nextGap(0, 4 * piece), { start: piece + 3 * 8192, end: 2 * piece })
  await pipeline(Readable.from([part(1)]), r.createWriteStream({ start: piece }))
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 4 * piece })
  t.true(r.readAll().equals(data))
})

test('a write stream that owns the resource (commit: true) still fails it when dropped', async (t) => {
  const r = open()
  async function* dropping(): AsyncGenerator<Buffer> {
    yield Buffer.from('partial')
    await turn()
    throw new Error('ECONNRESET')
  }
  await t.throwsAsync(pipeline(Readable.from(dropping()), r.createWriteStream()), { message: 'ECONNRESET' })
  t.is(r.status().kind, 'failed')
})

test('write stream destroyed without an error does not fail the resource', async (t) => {
  const r = open()
  const ws = r.createWriteStream()
  ws.write(Buffer.from('abc'))
  ws.destroy()
  await turn()
  t.deepEqual(r.status(), { kind: 'active' })
})

test('an owning write stream destroyed with an error after the resource was committed leaves it committed', async (t) => {
  const r = open()
  const ws = r.createWriteStream()
  await new Promise<void>((res, rej) => ws.write(Buffer.from('abc'), (e) => (e ? rej(e) : res())))
  // Someone else completed the resource (a piece writer, a download).
  r.commit()
  ws.destroy(new Error('client went away'))
  await t.throwsAsync(new Promise((_, rej) => ws.on('error', rej)), { message: 'client went away' })
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 3 })
  t.true(r.readAll().equals(Buffer.from('abc')))
})

test('write stream: an error of the resource itself does not fail it', async (t) => {
  const r = MemResource.open(new CancellationToken(), { initialData: bytes(4) })
  const ws: Writable = r.createWriteStream()
  const err = await t.throwsAsync(pipeline(Readable.from([Buffer.from('x')]), ws))
  t.true(err instanceof StorageError)
  t.is(r.status().kind, 'committed')
  t.true(r.readAll().equals(Buffer.from(bytes(4))))
})

test("'write' and 'commit' events: coalesced, in order, once/off", async (t) => {
  const r = open()
  const writes: WriteEvent[] = []
  const commits: number[] = []
  let onceCalls = 0
  const onWrite = (e: WriteEvent): void => {
    writes.push(e)
  }
  t.is(
    r
      .on('write', onWrite)
      .on('commit', ({ finalLen }) => commits.push(finalLen))
      .once('write', () => onceCalls++),
    r,
  )
  for (let i = 0; i < 10; i++) r.writeAt(i * 10, bytes(10))
  r.writeAt(500, bytes(10))
  r.commit()
  for (let i = 0; i < 5 && commits.length === 0; i++) await new Promise((res) => setTimeout(res, 20))
  // Adjacent writes of one turn arrive as one range.
  t.deepEqual(
    writes.map(({ start, end }) => [start, end]),
    [
      [0, 100],
      [500, 510],
    ],
  )
  t.deepEqual(commits, [510])
  t.is(onceCalls, 1)
  r.off('write', onWrite)
  r.reactivate()
  r.writeAt(600, bytes(1))
  await new Promise((res) => setTimeout(res, 30))
  t.is(writes.length, 2)
})

test('event arguments are validated', (t) => {
  const r = open()
  t.is(codeOf(t.throws(() => r.on('progress' as never, () => {}), { instanceOf: TypeError })), 'ERR_INVALID_ARG_VALUE')
  t.is(codeOf(t.throws(() => r.on('write', 'f' as never), { instanceOf: TypeError })), 'ERR_INVALID_ARG_TYPE')
  // A class is a function that throws when called: accepted, it would throw
  // later from the event delivery, where nothing can catch it.
  class Listener {}
  t.is(codeOf(t.throws(() => r.on('write', Listener as never), { instanceOf: TypeError })), 'ERR_INVALID_ARG_VALUE')
  t.is(codeOf(t.throws(() => r.once('commit', Listener as never), { instanceOf: TypeError })), 'ERR_INVALID_ARG_VALUE')
  // Arrow functions, methods and bound functions stay welcome.
  r.on('write', { m() {} }.m)
  r.on('write', function named() {}.bind(null))
  r.writeAt(0, bytes(1))
})

// Skipped on WebAssembly, which does not share resources across worker threads.
const acrossThreads = backendName() === 'wasm' ? test.skip : test

acrossThreads('events of writes made in a worker thread arrive on this thread', async (t) => {
  const r: ResourceBase = open()
  let total = 0
  r.on('write', ({ start, end }) => {
    total += end - start
  })
  const committed = new Promise<number>((res) => r.once('commit', ({ finalLen }) => res(finalLen)))
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads')
     const { Resource } = require('@kithara/storage')
     const r = Resource.fromShared(workerData.handle)
     for (let i = 0; i < 64; i++) r.writeAt(i * 1024, new Uint8Array(1024))
     r.commit()`,
    { eval: true, workerData: { handle: r.share() } },
  )
  await new Promise((res, rej) => {
    worker.once('exit', res)
    worker.once('error', rej)
  })
  t.is(await committed, 64 * 1024)
  await turn()
  t.is(total, 64 * 1024)
})
