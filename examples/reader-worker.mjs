// The in-order consumer of the demo (and of the download tests): a worker
// thread that opens the shared resource, reads it front to back with the
// blocking waitRangeSync (fine here: this thread does nothing else), hashes
// it, and publishes its position in a shared BigInt64Array.
// Plain JavaScript so that no TypeScript loader is needed inside the worker.
import { createHash } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { Resource } from '@kithara/storage'

/** @type {{ handle: import('@kithara/storage').SharedHandle, size: number | null, chunk: number, position: SharedArrayBuffer }} */
const { handle, size, chunk, position } = workerData
const resource = Resource.fromShared(handle)
const published = new BigInt64Array(position)
const hash = createHash('sha256')
const buf = Buffer.allocUnsafe(chunk)
let at = 0

try {
  for (;;) {
    if (size !== null && at >= size) break
    const end = size === null ? at + chunk : Math.min(at + chunk, size)
    const outcome = resource.waitRangeSync(at, end)
    if (outcome === 'eof') break
    // interrupt(): nothing to re-decide here, wait again.
    if (outcome === 'interrupted') continue
    const n = resource.readAt(at, buf.subarray(0, end - at))
    if (n === 0) break
    hash.update(buf.subarray(0, n))
    at += n
    Atomics.store(published, 0, BigInt(at))
  }
  parentPort.postMessage({ kind: 'done', sha256: hash.digest('hex'), bytes: at })
} catch (e) {
  parentPort.postMessage({ kind: 'error', code: e?.code, message: String(e?.message ?? e), bytes: at })
}
