// Group 'processes': one file, several processes (README "Several processes").
//
//  a) Wake latency, p50 and p99: a writer writes 4 KiB; a waiter `await
//     waitRange`s it. Across processes (the writer in a child process, this
//     process a follower of its file) next to the same in one process (the
//     writer in a worker thread, the waiter on this thread, one shared
//     resource). Both writers announce nothing to the waiter but the write:
//     the waiter registers, tells the writer (IPC or Atomics, outside the
//     measured path), the writer lets it settle into its wait, takes t0 and
//     writes; the waiter takes t1 in its continuation. process.hrtime is
//     CLOCK_MONOTONIC: one clock for every thread and process.
//  b) What publishing costs a write: ns per writeAt of 4 KiB and 64 KiB,
//     rewriting a 64 MiB file in order, without persistRanges (nothing
//     published), with it (every write published to `<path>.live`), with a
//     follower process attached but not waiting, and with a follower waiting
//     (each write then also wakes it: a FUTEX_WAKE, and the follower's CPU).
//     Blocks of writes alternate between the cases. The files are on tmpfs
//     (/dev/shm where there is one): with persistRanges a checkpoint flushes
//     the file every 16 MiB, and on a disk, rewriting pages while they are
//     written back stalls the writer (see bench/durability). Checkpoints
//     still run here (on their thread, taking CPU from the writer), so the
//     same comparison is also made at the core, without JS and with no
//     checkpoint during the timed writes: bench/rust/src/bin/publish.rs,
//     whose rows this group includes (built with cargo on first use).
import { fork, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { CancellationToken, MmapResource, Resource } from '@kithara/storage'
import { KIB, MIB, emit, log, nowNs, percentile, randomBytes, scratchDir } from './lib.mjs'

const ROUNDS = Number(process.env.BENCH_WAKE_ROUNDS ?? 400)
const WARMUP = 40
const SETTLE_MS = 0.3
const SPAN = 64 * MIB
const BLOCKS = 6
const WRITES_PER_BLOCK = { [4 * KIB]: 4096, [64 * KIB]: 512 }
const self = fileURLToPath(import.meta.url)
const token = new CancellationToken()

/** Sleeps `ms` without the event loop (so no timer or I/O runs meanwhile). */
function settle(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

const role = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : null

if (!isMainThread) {
  // In-process writer: waits for the main thread's "ready r", writes round r.
  const { handle, ctrl, times } = workerData
  const c = new Int32Array(ctrl)
  const t = new BigInt64Array(times)
  const res = Resource.fromShared(handle)
  const data = randomBytes(4 * KIB)
  for (let round = 1; round <= ROUNDS + WARMUP; round++) {
    while (Atomics.load(c, 0) < round) Atomics.wait(c, 0, round - 1)
    settle(SETTLE_MS)
    t[round] = process.hrtime.bigint()
    res.writeAt(round * 4 * KIB, data)
  }
  parentPort.postMessage('done')
} else if (role === 'writer') {
  // Cross-process writer: on { ready: r }, writes round r and says its t0.
  const res = MmapResource.open(token, { path: process.argv.at(-1), persistRanges: true })
  const data = randomBytes(4 * KIB)
  process.on('message', (msg) => {
    if (msg.exit) {
      res.close()
      process.exit(0)
    }
    settle(SETTLE_MS)
    const t0 = nowNs()
    res.writeAt(msg.ready * 4 * KIB, data)
    process.send({ t0 })
  })
  process.send({ open: true })
} else if (role === 'follower') {
  // Attached to a file another process writes; with `wait`, waits for a
  // byte nobody writes (so the writer wakes it at every write).
  const [mode, file] = process.argv.slice(-2)
  const res = MmapResource.open(token, { path: file, mode: 'readOnly', persistRanges: true })
  if (!res.isFollower()) throw new Error('not a follower')
  if (mode === 'wait') res.waitRange(SPAN + MIB, SPAN + MIB + 1).catch(() => {})
  process.on('message', () => process.exit(0))
  process.send({ following: true })
} else {
  const { dir } = scratchDir('processes')

  /** Resolves with the next message of `child` that has `key`. */
  const next = (child, key) =>
    new Promise((resolve) => {
      const on = (msg) => {
        if (key in msg) {
          child.off('message', on)
          resolve(msg)
        }
      }
      child.on('message', on)
    })

  async function crossProcess(block) {
    const file = path.join(dir, `wake-${block}.bin`)
    const writer = fork(self, ['--child', 'writer', file])
    await next(writer, 'open')
    const f = MmapResource.open(token, { path: file, mode: 'readOnly', persistRanges: true })
    if (!f.isFollower()) throw new Error('not a follower')
    const lat = []
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      let t1 = 0
      const waited = f.waitRange(round * 4 * KIB, (round + 1) * 4 * KIB).then(() => {
        t1 = nowNs()
      })
      const said = next(writer, 't0')
      writer.send({ ready: round })
      await waited
      const { t0 } = await said
      if (round > WARMUP) lat.push((t1 - t0) / 1e3)
    }
    writer.send({ exit: true })
    f.close()
    return lat
  }

  async function inProcess(block) {
    const res = MmapResource.open(token, { path: path.join(dir, `wake-local-${block}.bin`), persistRanges: true })
    const ctrl = new SharedArrayBuffer(4)
    const times = new SharedArrayBuffer(8 * (ROUNDS + WARMUP + 2))
    const c = new Int32Array(ctrl)
    const t = new BigInt64Array(times)
    const worker = new Worker(self, { workerData: { handle: res.share(), ctrl, times } })
    const lat = []
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      let t1 = 0
      const waited = res.waitRange(round * 4 * KIB, (round + 1) * 4 * KIB).then(() => {
        t1 = nowNs()
      })
      Atomics.store(c, 0, round)
      Atomics.notify(c, 0)
      await waited
      if (round > WARMUP) lat.push((t1 - Number(t[round])) / 1e3)
    }
    await worker.terminate()
    res.close()
    return lat
  }

  const cases = []
  const wakes = { 'wake across processes (follower await waitRange)': [], 'wake in process (await waitRange)': [] }
  for (let block = 0; block < 2; block++) {
    wakes['wake across processes (follower await waitRange)'].push(...(await crossProcess(block)))
    wakes['wake in process (await waitRange)'].push(...(await inProcess(block)))
  }
  for (const [name, lat] of Object.entries(wakes)) {
    const row = { name, unit: 'us', p50: percentile(lat, 50), p99: percentile(lat, 99), rounds: lat.length }
    log(`${name.padEnd(50)} p50 ${row.p50.toFixed(1)} us  p99 ${row.p99.toFixed(1)} us`)
    cases.push(row)
  }

  // b) The write path, on tmpfs.
  const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/kithara-bench-') : null
  if (shm) process.once('exit', () => fs.rmSync(shm, { recursive: true, force: true }))
  const writeDir = shm ?? dir
  const writers = []
  const children = []
  async function writerCase(name, persistRanges, follower) {
    const file = path.join(writeDir, `${name.replace(/\W+/g, '-')}.bin`)
    const res = MmapResource.open(token, { path: file, persistRanges, initialLen: SPAN })
    const chunk = randomBytes(MIB)
    for (let at = 0; at < SPAN; at += MIB) res.writeAt(at, chunk)
    if (follower) {
      const child = fork(self, ['--child', 'follower', follower, file])
      children.push(child)
      await next(child, 'following')
    }
    writers.push({ name, res, at: 0 })
  }
  await writerCase('no persistRanges', false, null)
  await writerCase('persistRanges', true, null)
  await writerCase('persistRanges, follower attached', true, 'idle')
  await writerCase('persistRanges, follower waiting', true, 'wait')
  for (const size of [4 * KIB, 64 * KIB]) {
    const data = randomBytes(size)
    const n = WRITES_PER_BLOCK[size]
    const perWrite = writers.map(() => [])
    for (let block = 0; block < BLOCKS; block++) {
      writers.forEach((w, i) => {
        const t0 = nowNs()
        for (let k = 0; k < n; k++) {
          w.res.writeAt(w.at, data)
          w.at = (w.at + size) % SPAN
        }
        perWrite[i].push((nowNs() - t0) / n)
      })
    }
    writers.forEach((w, i) => {
      const row = {
        name: `writeAt ${size / KIB}KiB ${w.name}`,
        unit: 'ns/op',
        p50: percentile(perWrite[i], 50),
        p99: percentile(perWrite[i], 99),
        rounds: perWrite[i].length,
      }
      log(`${row.name.padEnd(50)} ${row.p50.toFixed(0)} ns/write (median of ${BLOCKS} blocks of ${n})`)
      cases.push(row)
    })
  }
  for (const child of children) child.send({ exit: true })
  for (const w of writers) w.res.close()

  // The same at the core.
  const manifest = path.join(path.dirname(self), 'rust', 'Cargo.toml')
  log('[processes] cargo build --release --bin publish (a no-op when built)')
  const build = spawnSync(
    'cargo',
    ['build', '--release', '--locked', '--quiet', '--manifest-path', manifest, '--bin', 'publish'],
    {
      stdio: ['ignore', 2, 2],
    },
  )
  const bin = path.join(path.dirname(self), 'rust', 'target', 'release', 'publish')
  const run = build.status === 0 ? spawnSync(bin, [], { encoding: 'utf8', timeout: 300_000 }) : null
  if (run?.status === 0) {
    for (const row of JSON.parse(run.stdout)) {
      log(`${row.name.padEnd(50)} ${row.p50.toFixed(0)} ns/write (median of ${row.rounds} blocks)`)
      cases.push(row)
    }
  } else {
    log('[processes] the core publishing bench did not run')
  }
  emit({ group: 'processes', cases })
  process.exit(0)
}
