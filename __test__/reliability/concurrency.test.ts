/**
 * Concurrency stress: 8 worker threads share one resource through
 * share()/fromShared — 4 writers at seeded random offsets, 3 readers
 * blocking in waitRangeSync, 1 interrupter — while the main thread keeps
 * async waiters pending, then fills the gaps and commits. Every wait must be
 * decided (no lost wakeup: a bounded timeout turns one into a failure) and
 * every byte read must be the byte written. Several seeds, both backends.
 */
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { CancellationToken, MemResource, MmapResource, type ResourceBase } from '@kithara/storage'
import test from 'ava'
import { untilPending } from '../helpers.js'
import { SEED } from './seed.js'
import { scratchDir } from './util.js'
import { xorshift } from './xorshift.cjs'

const WORKER = join(__dirname, 'stress-worker.mjs')
const SIZE = 2 * 1024 * 1024
/** A wait that takes this long was lost: the whole run is a few hundred ms. */
const WAIT_BOUND_MS = 20_000

/** Same as byteAt in stress-worker.mjs. */
function byteAt(offset: number): number {
  return ((offset * 131) ^ (offset >>> 9) ^ (offset >>> 17)) & 0xff
}

function fill(offset: number, len: number): Uint8Array {
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = byteAt(offset + i)
  return b
}

function checkBytes(offset: number, buf: Uint8Array): string | null {
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== byteAt(offset + i)) return `byte ${offset + i}: read ${buf[i]}, wrote ${byteAt(offset + i)}`
  }
  return null
}

interface WorkerResult {
  role: string
  index: number
  error?: string
  [count: string]: unknown
}

function startWorker(data: Record<string, unknown>): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: data })
    let result: WorkerResult | undefined
    w.once('message', (m: WorkerResult) => {
      result = m
    })
    w.once('error', reject)
    w.once('exit', (code) => {
      if (result) resolve(result)
      else reject(new Error(`worker ${String(data.role)} ${String(data.index)} exited ${code} without a result`))
    })
  })
}

/** Async waits on the main thread: each retried after 'interrupted', then its bytes checked. */
async function asyncWaiter(r: ResourceBase, start: number, end: number): Promise<{ interrupted: number }> {
  let interrupted = 0
  for (;;) {
    const outcome = await r.waitRange(start, end, { timeoutMs: WAIT_BOUND_MS })
    if (outcome === 'interrupted') {
      interrupted++
      continue
    }
    if (outcome !== 'ready') throw new Error(`async wait ${start}..${end}: ${outcome}`)
    const buf = new Uint8Array(end - start)
    const n = r.readAt(start, buf)
    if (n !== buf.length) throw new Error(`async read ${start}..${end}: ${n} bytes`)
    const bad = checkBytes(start, buf)
    if (bad) throw new Error(bad)
    return { interrupted }
  }
}

const seeds = [SEED, SEED + 1, SEED + 2]

for (const kind of ['mmap', 'mem'] as const) {
  for (const seed of seeds) {
    test.serial(`concurrency: ${kind}, 8 workers, seed ${seed}`, async (t) => {
      t.timeout(90_000)
      const dir = scratchDir(t, 'stress')
      const token = new CancellationToken()
      // A small initial size: the mapping grows (remaps) while readers read.
      const r: ResourceBase =
        kind === 'mmap'
          ? MmapResource.open(token, { path: join(dir, 'shared.bin'), initialLen: 4096 })
          : MemResource.open(token)
      t.teardown(() => r.close())
      const handle = r.share()
      const stop = new SharedArrayBuffer(4)
      const common = { handle, seed, size: SIZE, stop, waitTimeoutMs: WAIT_BOUND_MS }

      // Main-thread async waiters, registered before any write.
      const rand = xorshift(seed)
      const asyncWaits: Array<Promise<{ interrupted: number }>> = []
      for (let i = 0; i < 200; i++) {
        const len = 1 + rand(8192)
        const start = rand(SIZE - len + 1)
        asyncWaits.push(asyncWaiter(r, start, start + len))
      }

      const writers = [0, 1, 2, 3].map((index) => startWorker({ ...common, role: 'writer', index, ops: 150 }))
      const readers = [0, 1, 2].map((index) => startWorker({ ...common, role: 'reader', index, ops: 300 }))
      const interrupter = startWorker({ ...common, role: 'interrupter', index: 0, ops: 0 })

      const written = await Promise.all(writers)
      for (const w of written) t.falsy(w.error, `writer ${w.index}: ${w.error}`)

      // Fill what the writers left, then commit: every remaining wait decides.
      let filled = 0
      for (let gap = r.nextGap(0, SIZE); gap; gap = r.nextGap(gap.end, SIZE)) {
        r.writeAt(gap.start, fill(gap.start, gap.end - gap.start))
        filled += gap.end - gap.start
      }
      t.true(r.containsRange(0, SIZE))
      r.commit(SIZE)

      const read = await Promise.all(readers)
      for (const w of read) t.falsy(w.error, `reader ${w.index}: ${w.error}`)
      const waited = await Promise.all(asyncWaits)
      Atomics.store(new Int32Array(stop), 0, 1)
      Atomics.notify(new Int32Array(stop), 0)
      const intr = await interrupter
      t.falsy(intr.error, String(intr.error))

      t.deepEqual(r.status(), { kind: 'committed', finalLen: SIZE })
      const all = r.readAll()
      t.is(all.length, SIZE)
      t.is(checkBytes(0, all), null)

      const interruptedAsync = waited.reduce((s, w) => s + w.interrupted, 0)
      t.log(
        `writes ${written.reduce((s, w) => s + Number(w.writes), 0)}, gap bytes filled by main ${filled}, ` +
          `sync reads verified ${read.reduce((s, w) => s + Number(w.ready), 0)} ` +
          `(interrupted ${read.reduce((s, w) => s + Number(w.interrupted), 0)}), ` +
          `async waits 200 (interrupted ${interruptedAsync}), interrupts ${String(intr.interrupts)}`,
      )
    })
  }
}

test('concurrency: a wait pending on a worker is decided by close() on the main thread', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const stop = new SharedArrayBuffer(4)
  const reader = startWorker({
    handle: r.share(),
    role: 'reader',
    index: 0,
    seed: SEED,
    size: 1024,
    ops: 1,
    stop,
    waitTimeoutMs: WAIT_BOUND_MS,
  })
  // The worker is provably blocked in waitRangeSync before close(): only the
  // close can decide its wait (CLOSED, not the bound's TIMEOUT, not a hang).
  await untilPending(r, 1, WAIT_BOUND_MS)
  r.close()
  const res = await reader
  t.regex(String(res.error), /ERR_STORAGE_CLOSED/)
})
