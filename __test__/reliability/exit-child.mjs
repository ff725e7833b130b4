// Child of the threads-and-exit test (exit.test.ts): worker threads block in
// waitRangeSync (no timeout) on a resource nobody will write; then the main
// thread ends them in one of several ways. The process must exit; the test
// kills it after a deadline otherwise.
//
//   node exit-child.mjs terminate   await worker.terminate() on each, then exit normally
//   node exit-child.mjs exit        process.exit(0) while they are blocked
//   node exit-child.mjs end         unref'd workers: the main thread's loop simply ends
//   node exit-child.mjs throw       an uncaught exception on the main thread
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { AtomicChunked, CancellationToken, MemResource, MmapResource } from '@kithara/storage'

const [how, dir] = process.argv.slice(2)
const token = new CancellationToken()
const resources = [
  MemResource.open(token),
  MmapResource.open(token, { path: `${dir}/plain.bin` }),
  AtomicChunked.open(token, { path: `${dir}/chunked.bin` }),
]
const workerCode = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { Resource } = require(workerData.entry)
  const r = Resource.fromShared(workerData.handle)
  parentPort.postMessage('blocking')
  const outcome = r.waitRangeSync(0, 10)
  parentPort.postMessage('returned ' + outcome)
`
const entry = new URL('../../dist/index.js', import.meta.url).pathname
const workers = resources.map((r) => {
  const w = new Worker(workerCode, { eval: true, workerData: { entry, handle: r.share() } })
  w.on('message', (m) => {
    if (m !== 'blocking') process.stdout.write(`unexpected: ${m}\n`)
  })
  return w
})
await Promise.all(workers.map((w) => once(w, 'message')))
// Let them reach the kernel wait (not asserted on: a worker that has not
// blocked yet only makes the case easier).
await new Promise((r) => setTimeout(r, 200))

switch (how) {
  case 'terminate':
    for (const w of workers) await w.terminate()
    process.stdout.write('terminated\n')
    for (const r of resources) r.close()
    break
  case 'exit':
    process.stdout.write('exiting\n')
    process.exit(0)
    break
  case 'end':
    for (const w of workers) w.unref()
    process.stdout.write('ending\n')
    break
  case 'throw':
    process.stdout.write('throwing\n')
    setImmediate(() => {
      throw new Error('uncaught on purpose')
    })
    break
  default:
    throw new Error(`unknown ${how}`)
}
