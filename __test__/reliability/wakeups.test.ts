/**
 * Wake-ups on write, separated from everything else that could decide a
 * wait: nothing interrupts, commits, fails or closes a resource while a wait
 * for a write is pending, and the writer writes a piece only once the wait
 * for it is provably pending in the core, and the next piece only once the
 * reader has consumed the previous one (lock-step, over a SharedArrayBuffer
 * counter). So only the write's wake-up can decide each wait; a write that
 * wakes nobody ends in the wait's bound (ERR_STORAGE_TIMEOUT) and fails.
 *
 * Events, not polling: 2,000 sequential wait→write round trips between two
 * threads take well under a second when each write wakes its waiter, and at
 * least 100 s if a wait were a 50 ms poll (two waits per trip); the test
 * allows 20 s for all of them.
 */
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { CancellationToken, MemResource, MmapResource, type ResourceBase } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'
import { pendingWaiters, untilPending } from '../helpers.js'
import { firstMismatch, pattern } from './pattern.cjs'
import { scratchDir, sleep } from './util.js'

const WORKER = join(__dirname, 'lockstep-worker.mjs')
/** A bound on each wait: the whole lock-step run takes milliseconds. */
const BOUND_MS = 10_000
const PIECE = 16 * 1024
const PIECES = 64
const TRIPS = 2_000
/** 2,000 trips woken by events take about 0.2 s; polled every 50 ms, 100 s or more. */
const TRIPS_BOUND_MS = 20_000
const NOT_WOKEN = 'a wait is not woken by the write that decides it (a poll?)'

interface WorkerResult {
  role: string
  done: number
  error?: string
}

function startWorker(t: ExecutionContext, data: Record<string, unknown>): Promise<WorkerResult> {
  const w = new Worker(WORKER, { workerData: { boundMs: BOUND_MS, piece: PIECE, pieces: PIECES, ...data } })
  t.teardown(() => w.terminate())
  return new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
    w.once('exit', (code) => reject(new Error(`worker ${String(data.role)} exited ${code} without a result`)))
  })
}

type Open = (t: ExecutionContext, name: string) => ResourceBase
const kinds: Array<[string, Open]> = [
  ['mem', () => MemResource.open(new CancellationToken())],
  ['mmap', (t, name) => MmapResource.open(new CancellationToken(), { path: join(scratchDir(t, 'wake'), name) })],
]

/** Resolves true once `progress[0]` passes `k`; false if it did not within the bound. */
async function consumed(progress: Int32Array, k: number): Promise<boolean> {
  // Each turn waits at least 1 ms: the turn count bounds the time.
  for (let turns = 0; Atomics.load(progress, 0) <= k; turns++) {
    if (turns > BOUND_MS) return false
    await sleep(1)
  }
  return true
}

for (const [kind, open] of kinds) {
  test.serial(`lock-step (${kind}): each write wakes the worker blocked in waitRangeSync for it`, async (t) => {
    t.timeout(60_000)
    const r = open(t, 'reader.bin')
    t.teardown(() => r.close())
    const progress = new Int32Array(new SharedArrayBuffer(8))
    const reader = startWorker(t, { role: 'reader', handle: r.share(), progress: progress.buffer })
    for (let k = 0; k < PIECES; k++) {
      await untilPending(r, 1, BOUND_MS)
      // Half a piece decides nothing: the reader stays blocked.
      r.writeAt(k * PIECE, pattern(k * PIECE, PIECE / 2))
      t.is(pendingWaiters(r), 1, `piece ${k}: half a piece woke the reader`)
      // The other half completes the range: its write alone must wake the reader.
      r.writeAt(k * PIECE + PIECE / 2, pattern(k * PIECE + PIECE / 2, PIECE / 2))
      if (!(await consumed(progress, k))) {
        const res = await reader
        t.fail(`piece ${k} was written and never consumed (lost wake-up): ${JSON.stringify(res)}`)
        return
      }
    }
    t.deepEqual(await reader, { role: 'reader', done: PIECES })
    // Nothing but writes happened: no commit, no interrupt.
    t.deepEqual(r.status(), { kind: 'active' })
  })

  test.serial(`lock-step (${kind}): each write from a worker wakes the main thread's waitRange`, async (t) => {
    t.timeout(60_000)
    const r = open(t, 'writer.bin')
    t.teardown(() => r.close())
    const progress = new Int32Array(new SharedArrayBuffer(8))
    const writer = startWorker(t, { role: 'writer', handle: r.share(), progress: progress.buffer })
    const buf = Buffer.alloc(PIECE)
    for (let k = 0; k < PIECES; k++) {
      // Registered before the worker writes (it waits for this wait to be pending).
      const outcome = await r.waitRange(k * PIECE, (k + 1) * PIECE, { timeoutMs: BOUND_MS }).catch((e) => e)
      if (outcome !== 'ready') {
        t.fail(`piece ${k}: ${String(outcome)}; writer: ${JSON.stringify(await writer)}`)
        return
      }
      t.is(r.readAt(k * PIECE, buf), PIECE)
      t.is(firstMismatch(k * PIECE, buf), -1, `piece ${k}`)
      Atomics.store(progress, 0, k + 1)
      Atomics.notify(progress, 0)
    }
    t.deepEqual(await writer, { role: 'writer', done: PIECES })
    t.deepEqual(r.status(), { kind: 'active' })
  })

  test.serial(`${TRIPS} wait→write round trips between two threads are woken, not polled (${kind})`, async (t) => {
    t.timeout(TRIPS_BOUND_MS + 30_000)
    // Two resources: the main thread writes byte k of `a` and waits for
    // byte k of `b`; the worker waits for byte k of `a`, then writes byte k
    // of `b`. Each side writes right after its own wake-up, while the other
    // side is (almost always) already waiting.
    const a = open(t, 'a.bin')
    const b = open(t, 'b.bin')
    t.teardown(() => {
      a.close()
      b.close()
    })
    const progress = new Int32Array(new SharedArrayBuffer(8))
    const pong = startWorker(t, { role: 'pong', a: a.share(), b: b.share(), pieces: TRIPS, progress: progress.buffer })
    const one = new Uint8Array([1])
    let trips = 0
    let timedOut = false
    const run = (async () => {
      for (let k = 0; k < TRIPS && !timedOut; k++) {
        a.writeAt(k, one)
        const outcome = await b.waitRange(k, k + 1, { timeoutMs: BOUND_MS })
        if (outcome !== 'ready') throw new Error(`trip ${k}: ${outcome}`)
        trips = k + 1
      }
    })()
    let timer: ReturnType<typeof setTimeout> | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true
        resolve()
      }, TRIPS_BOUND_MS)
    })
    try {
      await Promise.race([run, bound])
    } finally {
      clearTimeout(timer)
    }
    if (timedOut) {
      t.fail(
        `only ${trips} of ${TRIPS} round trips (worker: ${Atomics.load(progress, 0)}) in ${TRIPS_BOUND_MS} ms: ${NOT_WOKEN}`,
      )
      return
    }
    t.is(trips, TRIPS)
    t.deepEqual(await pong, { role: 'pong', done: TRIPS })
  })
}
