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
import { xorshift } from './xorshift.cjs'

const [mode, path] = process.argv.slice(2)
const token = new CancellationToken()
const data = [version(0), version(1)]
const CHUNK = 256 * 1024

function shuffled(n, salt) {
  const order = Array.from({ length: n }, (_, i) => i)
  const rand = xorshift(salt * 2654435761)
  for (let i = n - 1; i > 0; i--) {
    const j = rand(i + 1)
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
