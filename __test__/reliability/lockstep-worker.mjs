// A worker thread of the wake-up tests (__test__/reliability/wakeups.test.ts).
// Every wait it makes can only be decided by a write: nothing interrupts,
// commits, fails or closes the resources while it waits, and each wait has a
// bound (`timeoutMs`), so a lost wake-up ends in ERR_STORAGE_TIMEOUT here.
//
//   reader  waits (waitRangeSync) for piece k, checks its bytes, publishes
//           k + 1 in `progress`; the main thread writes piece k + 1 only then
//   writer  writes piece k once the main thread's async wait for it is
//           pending, then waits until the main thread consumed it
//   pong    round trips: waits for byte k of `a` (written by the main thread),
//           then writes byte k of `b` (which the main thread waits for)
//
// Posts { role, done } or { role, error, done } to the parent.
import { parentPort, workerData } from 'node:worker_threads'
import { Resource } from '@kithara/storage'
import { pattern } from './pattern.cjs'

const { role, piece, pieces, boundMs } = workerData
const progress = new Int32Array(workerData.progress)
let done = 0

/** Waits in the core on `r` (the backend's diagnostic member). */
const pendingWaiters = (r) => r.native.pendingWaiters()

try {
  if (role === 'reader') {
    const r = Resource.fromShared(workerData.handle)
    const buf = Buffer.alloc(piece)
    for (let k = 0; k < pieces; k++) {
      const outcome = r.waitRangeSync(k * piece, (k + 1) * piece, { timeoutMs: boundMs })
      if (outcome !== 'ready') throw new Error(`piece ${k}: ${outcome}`)
      if (r.readAt(k * piece, buf) !== piece || !buf.equals(pattern(k * piece, piece))) {
        throw new Error(`piece ${k}: wrong bytes`)
      }
      done = k + 1
      Atomics.store(progress, 0, done)
      Atomics.notify(progress, 0)
    }
  } else if (role === 'writer') {
    const r = Resource.fromShared(workerData.handle)
    for (let k = 0; k < pieces; k++) {
      // The main thread's wait for piece k is registered: only this write can decide it.
      for (let ms = 0; pendingWaiters(r) < 1; ms++) {
        if (ms > boundMs) throw new Error(`piece ${k}: the reader never waited`)
        Atomics.wait(progress, 1, 0, 1)
      }
      r.writeAt(k * piece, pattern(k * piece, piece))
      if (Atomics.wait(progress, 0, k, boundMs) === 'timed-out' && Atomics.load(progress, 0) === k) {
        throw new Error(`piece ${k}: the reader never consumed it`)
      }
      done = k + 1
    }
  } else if (role === 'pong') {
    const a = Resource.fromShared(workerData.a)
    const b = Resource.fromShared(workerData.b)
    const one = new Uint8Array([1])
    for (let k = 0; k < pieces; k++) {
      const outcome = a.waitRangeSync(k, k + 1, { timeoutMs: boundMs })
      if (outcome !== 'ready') throw new Error(`trip ${k}: ${outcome}`)
      b.writeAt(k, one)
      done = k + 1
      Atomics.store(progress, 0, done)
    }
  } else {
    throw new Error(`unknown role ${role}`)
  }
  parentPort.postMessage({ role, done })
} catch (e) {
  parentPort.postMessage({ role, done, error: `${e?.code ?? ''} ${e?.message ?? e}` })
}
