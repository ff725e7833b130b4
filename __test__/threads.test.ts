/**
 * worker_threads: a resource reaches a worker through share()/fromShared(),
 * and a worker blocked in waitRangeSync wakes on main-thread events.
 */
import { once } from 'node:events'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import {
  CancellationToken,
  MemResource,
  MmapResource,
  Resource,
  type ResourceBase,
  type SharedHandle,
  type SharedTokenHandle,
} from '@kithara/storage'
import test from 'ava'
import { bytes, pendingWaiters, tempDir, untilPending } from './helpers.js'

const entry = require.resolve('@kithara/storage')

/** The worker: waits (blocking) for a range, then reports what happened. */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { Resource, CancellationToken } = require(workerData.entry)
const r = Resource.fromShared(workerData.handle)
if (workerData.token) CancellationToken.fromShared(workerData.token)
parentPort.postMessage({ type: 'ready' })
try {
  const outcome = r.waitRangeSync(workerData.start, workerData.end, workerData.opts)
  const buf = new Uint8Array(workerData.end - workerData.start)
  const n = outcome === 'ready' ? r.readAt(workerData.start, buf) : 0
  parentPort.postMessage({ type: 'done', outcome, n, data: Array.from(buf.subarray(0, n)) })
} catch (e) {
  parentPort.postMessage({ type: 'error', code: e.code, name: e.name, message: e.message })
}
`

interface Result {
  type: 'done' | 'error'
  outcome?: string
  n?: number
  data?: number[]
  code?: string
  name?: string
}

/** A bound on every worker's wait: a wake-up that never comes fails the test instead of hanging it. */
const WAIT_BOUND_MS = 20_000

/**
 * Starts a worker blocked on `[start, end)` of `r`; `act` runs once the
 * worker is provably blocked in `waitRangeSync` (its wait is pending in the
 * core), so only `act` can decide the wait.
 */
async function blockedWorker(
  r: ResourceBase,
  start: number,
  end: number,
  act: () => void,
  extra: { token?: SharedTokenHandle; opts?: { timeoutMs?: number } } = {},
): Promise<Result> {
  const opts = { timeoutMs: WAIT_BOUND_MS, ...extra.opts }
  const workerData = { entry, handle: r.share(), start, end, ...extra, opts }
  const w = new Worker(workerSource, { eval: true, workerData })
  try {
    const done = new Promise<Result>((resolve, reject) => {
      w.on('message', (m: Result | { type: 'ready' }) => {
        if (m.type === 'ready') untilPending(r, 1).then(act, reject)
        else resolve(m)
      })
      w.on('error', reject)
    })
    return await done
  } finally {
    await w.terminate()
  }
}

const kinds: Array<[string, (t: import('ava').ExecutionContext, token: CancellationToken) => ResourceBase]> = [
  ['mem', (_t, token) => MemResource.open(token)],
  ['mmap', (t, token) => MmapResource.open(token, { path: join(tempDir(t), 'shared.bin') })],
]

for (const [kind, open] of kinds) {
  test(`${kind}: worker wakes on main-thread write and reads the data`, async (t) => {
    const r = open(t, new CancellationToken())
    const res = await blockedWorker(r, 0, 8, () => {
      r.writeAt(0, bytes(4))
      r.writeAt(4, bytes(4, 4))
    })
    t.is(res.type, 'done')
    t.is(res.outcome, 'ready')
    t.deepEqual(res.data, Array.from(bytes(8)))
    r.close()
  })

  test(`${kind}: worker wakes on commit (eof)`, async (t) => {
    const r = open(t, new CancellationToken())
    r.writeAt(0, bytes(4))
    const res = await blockedWorker(r, 4, 8, () => r.commit())
    t.is(res.outcome, 'eof')
    r.close()
  })

  test(`${kind}: worker wakes on fail`, async (t) => {
    const r = open(t, new CancellationToken())
    const res = await blockedWorker(r, 0, 8, () => r.fail('boom'))
    t.is(res.type, 'error')
    t.is(res.code, 'ERR_STORAGE_FAILED')
    t.is(res.name, 'StorageError')
    r.close()
  })

  test(`${kind}: worker wakes on cancel`, async (t) => {
    const token = new CancellationToken()
    const r = open(t, token)
    const res = await blockedWorker(r, 0, 8, () => token.cancel())
    t.is(res.code, 'ERR_STORAGE_CANCELLED')
    r.close()
  })

  test(`${kind}: worker wakes on interrupt`, async (t) => {
    const r = open(t, new CancellationToken())
    // The worker is blocked before the interrupt: only the interrupt can
    // decide its wait (a timeout is a failure, not a pass).
    const res = await blockedWorker(r, 0, 8, () => r.interrupt())
    t.like(res, { type: 'done', outcome: 'interrupted' })
    t.is(pendingWaiters(r), 0)
    // Later waits are unaffected by the earlier interrupt.
    const later = await blockedWorker(r, 0, 8, () => r.writeAt(0, bytes(8)))
    t.like(later, { type: 'done', outcome: 'ready', n: 8 })
    r.close()
  })

  test(`${kind}: worker wakes on close`, async (t) => {
    const r = open(t, new CancellationToken())
    const res = await blockedWorker(r, 0, 8, () => r.close())
    t.is(res.code, 'ERR_STORAGE_CLOSED')
  })
}

test('worker wait times out', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const res = await blockedWorker(r, 0, 8, () => {}, { opts: { timeoutMs: 300 } })
  t.is(res.code, 'ERR_STORAGE_TIMEOUT')
  t.is(pendingWaiters(r), 0, 'a timed-out wait is withdrawn')
})

test('a shared token cancelled in a worker cancels here', async (t) => {
  const token = new CancellationToken()
  const w = new Worker(
    `const { workerData } = require('node:worker_threads')
     const { CancellationToken } = require(workerData.entry)
     CancellationToken.fromShared(workerData.token).cancel()`,
    { eval: true, workerData: { entry, token: token.share() } },
  )
  await once(w, 'exit')
  t.true(token.isCancelled)
})

test('fromShared of a dropped resource is a clear StorageError', async (t) => {
  let handle: SharedHandle | undefined
  {
    const r = MemResource.open(new CancellationToken())
    handle = r.share()
    r.close()
  }
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { Resource } = require(workerData.entry)
     try { Resource.fromShared(workerData.handle).readAll(); parentPort.postMessage('no error') }
     catch (e) { parentPort.postMessage(e.name + ' ' + e.code) }`,
    { eval: true, workerData: { entry, handle } },
  )
  const [msg] = await once(w, 'message')
  t.regex(String(msg), /^StorageError ERR_STORAGE_/)
  await w.terminate()
})

/** A worker that listens to a shared resource's writes, reports them when told, then exits. */
const listenerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { Resource } = require(workerData.entry)
const r = Resource.fromShared(workerData.handle)
const seen = []
r.on('write', ({ start, end }) => {
  seen.push([start, end])
  if (end >= workerData.until) parentPort.postMessage({ type: 'seen', seen })
})
if (workerData.write) r.writeAt(workerData.write[0], new Uint8Array(workerData.write[1] - workerData.write[0]))
// Listening to events keeps no thread alive: the port does, until the parent terminates us.
parentPort.on('message', () => {})
parentPort.postMessage({ type: 'ready' })
`

/** Resolves with the `end` of the next 'write' event of `r` that reaches `end`. */
function writeReaching(r: ResourceBase, end: number): Promise<number> {
  return new Promise((resolve) => {
    const listener = (e: { end: number }): void => {
      if (e.end >= end) {
        r.off('write', listener)
        resolve(e.end)
      }
    }
    r.on('write', listener)
  })
}

for (const [kind, open] of kinds) {
  test(`${kind}: every subscriber on every thread gets every event; a worker exiting stops nobody else's`, async (t) => {
    const r = open(t, new CancellationToken())
    const mine: Array<[number, number]> = []
    r.on('write', ({ start, end }) => mine.push([start, end]))
    const twin = Resource.fromShared(r.share())
    const twinSeen = writeReaching(twin, 8)
    // The worker subscribes after us and writes [0, 4) itself; we write [4, 8).
    const w = new Worker(listenerSource, {
      eval: true,
      workerData: { entry, handle: r.share(), until: 8, write: [0, 4] },
    })
    const messages: Array<{ type: string; seen?: Array<[number, number]> }> = []
    const seen = new Promise<Array<[number, number]>>((resolve, reject) => {
      w.on('message', (m: { type: string; seen?: Array<[number, number]> }) => {
        messages.push(m)
        if (m.type === 'ready') r.writeAt(4, bytes(4, 4))
        if (m.type === 'seen') resolve(m.seen ?? [])
      })
      w.on('error', reject)
    })
    const workerSaw = await seen
    t.deepEqual(
      workerSaw
        .flat()
        .sort((a, b) => a - b)
        .at(-1),
      8,
      'the worker heard our write',
    )
    t.is(await twinSeen, 8, 'the twin heard it too')
    await w.terminate()
    // Ours heard the worker's write and ours, whatever thread made them.
    const covered = new Set(mine.flatMap(([s, e]) => Array.from({ length: e - s }, (_, i) => s + i)))
    t.is(covered.size, 8)
    // The worker is gone: its observer goes with it, ours stays.
    const after = writeReaching(r, 12)
    r.writeAt(8, bytes(4, 8))
    t.is(await after, 12)
    r.close()
  })
}
