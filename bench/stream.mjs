// Group 2: a streaming pipeline. The main thread writes 256 MiB into a mapped
// file in 64 KiB chunks; a worker thread waits for each chunk with
// waitRangeSync and reads it with readAt. Against two plain memcpys of the
// same bytes (Buffer.copy into a 256 MiB buffer, then out of it), which is
// what the pipeline does at the least: one copy in, one copy out.
import path from 'node:path'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { CancellationToken, MmapResource, Resource } from '@kithara/storage'
import { KIB, MIB, emit, log, median, nowNs, randomBytes, scratchDir } from './lib.mjs'

const TOTAL = 256 * MIB
const CHUNK = 64 * KIB
const ROUNDS = Number(process.env.BENCH_STREAM_ROUNDS ?? 3)

if (!isMainThread) {
  // Reader: wait for every chunk in order, copy it out, then report done.
  const { handle, done } = workerData
  const flag = new Int32Array(done)
  const res = Resource.fromShared(handle)
  const buf = Buffer.allocUnsafe(CHUNK)
  let sum = 0
  for (let off = 0; off < TOTAL; off += CHUNK) {
    res.waitRangeSync(off, off + CHUNK)
    res.readAt(off, buf)
    sum += buf[0]
  }
  Atomics.store(flag, 0, 1)
  Atomics.notify(flag, 0)
  parentPort.postMessage(sum)
} else {
  const { dir } = scratchDir('stream')
  const source = randomBytes(CHUNK * 16)
  const chunkAt = (i) => source.subarray((i % 16) * CHUNK, ((i % 16) + 1) * CHUNK)

  /** One pipeline run through a fresh file; returns MB/s. */
  async function pipelineOnce(round) {
    const token = new CancellationToken()
    const res = MmapResource.open(token, { path: path.join(dir, `stream-${round}.bin`), initialLen: TOTAL })
    const done = new SharedArrayBuffer(4)
    const flag = new Int32Array(done)
    const worker = new Worker(new URL(import.meta.url), { workerData: { handle: res.share(), done } })
    await new Promise((resolve) => worker.once('online', resolve))
    const t0 = nowNs()
    for (let i = 0, off = 0; off < TOTAL; i++, off += CHUNK) res.writeAt(off, chunkAt(i))
    // Block the main thread until the reader has copied out the last chunk.
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 1000)
    const t1 = nowNs()
    await new Promise((resolve) => worker.once('message', resolve))
    await worker.terminate()
    res.close()
    return TOTAL / 1e6 / ((t1 - t0) / 1e9)
  }

  /** Two memcpys of the same bytes through a fresh 256 MiB buffer; returns MB/s. */
  function memcpyOnce() {
    const middle = Buffer.alloc(TOTAL)
    const out = Buffer.allocUnsafe(CHUNK)
    let sum = 0
    const t0 = nowNs()
    for (let i = 0, off = 0; off < TOTAL; i++, off += CHUNK) {
      chunkAt(i).copy(middle, off)
      middle.copy(out, 0, off, off + CHUNK)
      sum += out[0]
    }
    const t1 = nowNs()
    if (sum < 0) log(sum)
    return TOTAL / 1e6 / ((t1 - t0) / 1e9)
  }

  const pipeline = []
  const memcpy = []
  // Interleave so that machine noise hits both sides alike.
  for (let r = 0; r < ROUNDS; r++) {
    memcpy.push(memcpyOnce())
    pipeline.push(await pipelineOnce(r))
    log(`round ${r}: pipeline ${pipeline[r].toFixed(0)} MB/s, two memcpys ${memcpy[r].toFixed(0)} MB/s`)
  }
  emit({
    group: 'stream',
    cases: [
      { name: 'stream 256MiB mmap, worker reader', unit: 'MB/s', p50: median(pipeline), samples: pipeline },
      { name: 'stream 256MiB two Buffer.copy', unit: 'MB/s', p50: median(memcpy), samples: memcpy },
    ],
  })
  process.exit(0)
}
