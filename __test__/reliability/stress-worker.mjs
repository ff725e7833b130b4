// A worker thread of the concurrency stress test (__test__/reliability/concurrency.test.ts).
// It opens the shared resource with Resource.fromShared and plays one role:
//   writer      writes pattern bytes at seeded random offsets
//   reader      waitRangeSync on random ranges, then checks every byte read
//   interrupter calls interrupt() about once a millisecond until told to stop
// and posts { role, index, ...counts } or { error } to the parent.
import { parentPort, workerData } from 'node:worker_threads'
import { Resource } from '@kithara/storage'
import { xorshift as rng } from './xorshift.cjs'

/** The byte every writer puts at `offset` (so overlapping writes agree). */
export function byteAt(offset) {
  return ((offset * 131) ^ (offset >>> 9) ^ (offset >>> 17)) & 0xff
}

const { handle, role, index, seed, size, ops, stop, waitTimeoutMs } = workerData
const r = Resource.fromShared(handle)
const rand = rng(seed * 7919 + index * 104729 + 1)
const stopFlag = new Int32Array(stop)

function fill(offset, len) {
  const b = Buffer.allocUnsafe(len)
  for (let i = 0; i < len; i++) b[i] = byteAt(offset + i)
  return b
}

function check(offset, buf, n) {
  for (let i = 0; i < n; i++) {
    if (buf[i] !== byteAt(offset + i)) {
      throw new Error(`byte ${offset + i}: read ${buf[i]}, wrote ${byteAt(offset + i)}`)
    }
  }
}

try {
  if (role === 'writer') {
    let written = 0
    for (let i = 0; i < ops; i++) {
      const len = 1 + rand(16 * 1024)
      const offset = rand(size - len + 1)
      r.writeAt(offset, fill(offset, len))
      written += len
    }
    parentPort.postMessage({ role, index, writes: ops, bytes: written })
  } else if (role === 'reader') {
    let ready = 0
    let interrupted = 0
    let verified = 0
    while (ready < ops) {
      const len = 1 + rand(8 * 1024)
      const start = rand(size - len + 1)
      // A lost wakeup shows up as ERR_STORAGE_TIMEOUT here.
      const outcome = r.waitRangeSync(start, start + len, { timeoutMs: waitTimeoutMs })
      if (outcome === 'interrupted') {
        interrupted++
        continue
      }
      if (outcome !== 'ready') throw new Error(`wait ${start}..${start + len}: ${outcome}`)
      const buf = Buffer.alloc(len)
      const n = r.readAt(start, buf)
      if (n !== len) throw new Error(`read ${start}..${start + len}: ${n} bytes`)
      check(start, buf, n)
      ready++
      verified += n
    }
    parentPort.postMessage({ role, index, ready, interrupted, verified })
  } else if (role === 'interrupter') {
    let interrupts = 0
    while (Atomics.load(stopFlag, 0) === 0) {
      r.interrupt()
      interrupts++
      Atomics.wait(stopFlag, 0, 0, 1)
    }
    parentPort.postMessage({ role, index, interrupts })
  } else {
    throw new Error(`unknown role ${role}`)
  }
} catch (e) {
  parentPort.postMessage({ role, index, error: `${e?.code ?? ''} ${e?.stack ?? e}` })
}
