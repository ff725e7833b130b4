// Child process of the kill -9 test (__test__/reliability/kill9.test.ts):
// rewrites one file forever, alternating two versions, until it is killed.
//
//   node kill-child.mjs atomic  <path>   Atomic.writeAll / writeAllDurable
//   node kill-child.mjs chunked <path>   AtomicChunked: shuffled 256 KiB chunks, commit, close
//
// Prints "ready" once the first version is complete on disk, so the parent
// kills it mid-loop rather than during startup.
import { Atomic, AtomicChunked, CancellationToken, MmapResource } from '@kithara/storage'
import { version } from './versions.cjs'

const [mode, path] = process.argv.slice(2)
const token = new CancellationToken()
const data = [version(0), version(1)]
const CHUNK = 256 * 1024

function shuffled(n, salt) {
  const order = Array.from({ length: n }, (_, i) => i)
  let x = (salt * 2654435761) >>> 0 || 1
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    const j = x % (i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

let announced = false
for (let i = 0; ; i++) {
  const v = data[i % 2]
  if (mode === 'atomic') {
    const r = new Atomic(MmapResource.open(token, { path }))
    if (i % 4 === 3) r.writeAllDurable(v)
    else r.writeAll(v)
    r.close()
  } else if (mode === 'chunked') {
    const r = AtomicChunked.open(token, { path, mode: 'readWrite' })
    const chunks = Math.ceil(v.length / CHUNK)
    for (const c of shuffled(chunks, i + 1)) {
      const start = c * CHUNK
      r.writeAt(start, v.subarray(start, Math.min(v.length, start + CHUNK)))
    }
    r.commit(v.length)
    r.close()
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
  if (!announced) {
    process.stdout.write('ready\n')
    announced = true
  }
}
