// Group 3: wake latency, p50 and p99.
//  a) A worker blocked in waitRangeSync, woken by a writeAt on the main
//     thread, against a worker blocked in a bare Atomics.wait woken by
//     Atomics.notify from the main thread. Same ping-pong protocol for both:
//     the worker announces it is about to block, the main thread lets it
//     settle into the kernel wait, takes t0 and wakes it; the worker takes t1
//     (the same monotonic clock in every thread) and acknowledges.
//     A third contender is the Atomics ping-pong with a writeAt (that wakes
//     nobody) just before the notify: it prices the waking call itself.
//  b) `await waitRange` woken by a writeAt on the same thread, against a
//     hand-written EventEmitter-based waiter, t0 before the write, t1 in the
//     continuation after the await.
//  c) Where a) goes (diagnostic): one call on the main thread right after
//     the same 0.3 ms idle, timed alone. Atomics.notify (what the baseline
//     wakes with), a binding class method that does nothing (isClosed), a
//     binding free function that does nothing (no receiver to unwrap), and
//     a 1-byte writeAt that wakes nobody.
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { Worker, isMainThread, workerData } from 'node:worker_threads'
import { CancellationToken, MemResource, Resource } from '@kithara/storage'
import { emit, log, nowNs, percentile } from './lib.mjs'

/** Rounds per block and contender; blocks alternate between contenders. */
const ROUNDS = Number(process.env.BENCH_WAKE_ROUNDS ?? 150)
const BLOCKS = 4
const WARMUP = 30
/** How long the main thread lets the worker settle into its wait before waking it. */
const SETTLE_MS = 0.3

// Control words (Int32) and timestamps (BigInt64) shared with the worker.
const READY = 0 // worker: round number it is about to wait for
const GO = 1 // main: round number released (Atomics baseline)
const ACK = 2 // worker: round number it woke up for

if (!isMainThread) {
  const { mode, handle, ctrl, times } = workerData
  const c = new Int32Array(ctrl)
  const t = new BigInt64Array(times)
  const res = mode === 'storage' ? Resource.fromShared(handle) : null
  for (let round = 1; round <= ROUNDS + WARMUP; round++) {
    Atomics.store(c, READY, round)
    Atomics.notify(c, READY)
    if (mode === 'storage') res.waitRangeSync(round, round + 1)
    else while (Atomics.load(c, GO) < round) Atomics.wait(c, GO, round - 1)
    t[round] = process.hrtime.bigint()
    Atomics.store(c, ACK, round)
    Atomics.notify(c, ACK)
  }
} else {
  /** Main side of the cross-thread ping-pong; returns one-way latencies in µs. */
  async function crossThread(mode) {
    const token = new CancellationToken()
    const res = MemResource.open(token, { capacity: ROUNDS + WARMUP + 2 })
    const ctrl = new SharedArrayBuffer(16)
    const times = new SharedArrayBuffer(8 * (ROUNDS + WARMUP + 2))
    const c = new Int32Array(ctrl)
    const t = new BigInt64Array(times)
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { mode, handle: res.share(), ctrl, times },
    })
    const sleeper = new Int32Array(new SharedArrayBuffer(4))
    const one = new Uint8Array([1])
    const lat = []
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      while (Atomics.load(c, READY) < round) Atomics.wait(c, READY, round - 1, 1000)
      Atomics.wait(sleeper, 0, 0, SETTLE_MS)
      const t0 = process.hrtime.bigint()
      if (mode === 'storage') res.writeAt(round, one)
      else {
        // 'write+atomics': the same wake, after a writeAt that wakes
        // nobody, to show what the waking call itself costs.
        if (mode === 'write+atomics') res.writeAt(round, one)
        Atomics.store(c, GO, round)
        Atomics.notify(c, GO)
      }
      while (Atomics.load(c, ACK) < round) Atomics.wait(c, ACK, round - 1, 1000)
      if (round > WARMUP) lat.push(Number(t[round] - t0) / 1e3)
    }
    await worker.terminate()
    res.close()
    return lat
  }

  /** `await waitRange` woken by a write on this thread; latencies in µs. */
  async function sameThreadStorage() {
    const token = new CancellationToken()
    const res = MemResource.open(token, { capacity: ROUNDS + WARMUP + 2 })
    const one = new Uint8Array([1])
    const lat = []
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      let t1 = 0
      const waited = res.waitRange(round, round + 1).then(() => {
        t1 = nowNs()
      })
      // Let the wait register and the loop go idle, as in a real reader.
      await new Promise((r) => setImmediate(r))
      const t0 = nowNs()
      res.writeAt(round, one)
      await waited
      if (round > WARMUP) lat.push((t1 - t0) / 1e3)
    }
    res.close()
    return lat
  }

  /** What a Node user writes by hand: ranges tracked in JS, waiters on an EventEmitter. */
  class EmitterStore {
    constructor(size) {
      this.bytes = new Uint8Array(size)
      this.written = new Uint8Array(size)
      this.events = new EventEmitter()
      this.events.setMaxListeners(0)
    }
    writeAt(offset, data) {
      this.bytes.set(data, offset)
      this.written.fill(1, offset, offset + data.length)
      this.events.emit('write', offset, offset + data.length)
    }
    covered(start, end) {
      for (let i = start; i < end; i++) if (!this.written[i]) return false
      return true
    }
    waitRange(start, end) {
      if (this.covered(start, end)) return Promise.resolve('ready')
      return new Promise((resolve) => {
        const onWrite = () => {
          if (!this.covered(start, end)) return
          this.events.off('write', onWrite)
          resolve('ready')
        }
        this.events.on('write', onWrite)
      })
    }
  }

  async function sameThreadEmitter() {
    const store = new EmitterStore(ROUNDS + WARMUP + 2)
    const one = new Uint8Array([1])
    const lat = []
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      let t1 = 0
      const waited = store.waitRange(round, round + 1).then(() => {
        t1 = nowNs()
      })
      await new Promise((r) => setImmediate(r))
      const t0 = nowNs()
      store.writeAt(round, one)
      await waited
      if (round > WARMUP) lat.push((t1 - t0) / 1e3)
    }
    return lat
  }

  /** c) Each call timed alone after the idle: [name, latencies in µs] per call. */
  function coldCalls() {
    const binding = createRequire(import.meta.url)('../native-binding.js')
    const token = new CancellationToken()
    const res = MemResource.open(token, { capacity: ROUNDS + WARMUP + 2 })
    const raw = res.native
    const sleeper = new Int32Array(new SharedArrayBuffer(4))
    const one = new Uint8Array([1])
    const calls = [
      ['cold Atomics.notify', () => Atomics.notify(sleeper, 0)],
      ['cold isClosed (binding method)', () => raw.isClosed()],
      ['cold sharedRegistrySize (binding function)', () => binding.sharedRegistrySize()],
      ['cold writeAt 1 B (binding method)', (round) => raw.writeAt(round, one)],
    ]
    const lat = calls.map(() => [])
    for (let round = 1; round <= ROUNDS + WARMUP; round++) {
      for (let k = 0; k < calls.length; k++) {
        Atomics.wait(sleeper, 0, 0, SETTLE_MS)
        const t0 = process.hrtime.bigint()
        calls[k][1](round)
        const t1 = process.hrtime.bigint()
        if (round > WARMUP) lat[k].push(Number(t1 - t0) / 1e3)
      }
    }
    res.close()
    return calls.map(([name], k) => [name, lat[k]])
  }

  // Blocks of rounds alternate between the contenders, so that a change of
  // machine load during the run hits both sides alike.
  const runs = [
    ['wake worker waitRangeSync', () => crossThread('storage')],
    ['wake worker Atomics.wait', () => crossThread('atomics')],
    ['wake worker Atomics.wait after writeAt', () => crossThread('write+atomics')],
    ['wake same-thread await waitRange', sameThreadStorage],
    ['wake same-thread EventEmitter', sameThreadEmitter],
  ]
  /** Latencies in µs by case name, in the order first met. */
  const samples = new Map(runs.map(([name]) => [name, []]))
  for (let block = 0; block < BLOCKS; block++) {
    for (const [name, run] of runs) samples.get(name).push(...(await run()))
  }
  for (let block = 0; block < BLOCKS; block++) {
    for (const [name, lat] of coldCalls()) {
      if (!samples.has(name)) samples.set(name, [])
      samples.get(name).push(...lat)
    }
  }
  const cases = []
  for (const [name, lat] of samples) {
    const row = { name, unit: 'us', p50: percentile(lat, 50), p99: percentile(lat, 99), rounds: lat.length }
    log(`${name.padEnd(36)} p50 ${row.p50.toFixed(1)} us  p99 ${row.p99.toFixed(1)} us`)
    cases.push(row)
  }
  emit({ group: 'wake', cases })
  process.exit(0)
}
