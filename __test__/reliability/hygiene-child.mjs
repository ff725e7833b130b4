// Child of the hygiene test (__test__/reliability/hygiene.test.ts); run with
// `node --expose-gc`. Prints one JSON line of measurements.
//
//   cycles <mem|mmap> <n> <dir> [drop]  n open/write/read/commit/close cycles
//                                       ("drop": no close, left to the GC);
//                                       RSS, /proc/self/maps lines and open fds
//                                       after a warm-up, halfway and at the end
//   gc <dir> <n>                        n MmapResources dropped without close():
//                                       mappings and fds of <dir> before and after gc()
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { CancellationToken, MemResource, MmapResource } from '@kithara/storage'

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')
const [mode, ...args] = process.argv.slice(2)
const token = new CancellationToken()
const tick = () => new Promise((r) => setImmediate(r))

function mapsLines(filter) {
  const lines = readFileSync('/proc/self/maps', 'utf8').split('\n').filter(Boolean)
  return filter ? lines.filter((l) => l.includes(filter)).length : lines.length
}
function fds(filter) {
  const all = readdirSync('/proc/self/fd')
  if (!filter) return all.length
  let n = 0
  for (const fd of all) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).includes(filter)) n++
    } catch {}
  }
  return n
}
async function settle() {
  // Finalizers of napi objects run after the GC, on later ticks.
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await tick()
  }
}
async function measure() {
  await settle()
  return { rss: process.memoryUsage().rss, maps: mapsLines(), fds: fds() }
}

const data = Buffer.alloc(4096, 0x5a)
const buf = Buffer.alloc(4096)

function cycle(kind, dir, i, drop) {
  const path = join(dir, `c${i}.bin`)
  const r = kind === 'mem' ? MemResource.open(token) : MmapResource.open(token, { path, initialLen: 8192 })
  const at = (i * 4096) % 65536
  r.writeAt(at, data)
  if (r.readAt(at, buf) !== 4096) throw new Error('short read')
  if (i % 2 === 0) r.commit()
  if (!drop) r.close()
  if (kind === 'mmap') rmSync(path)
}

if (mode === 'cycles') {
  const [kind, nText, dir, drop] = args
  const n = Number(nText)
  const warm = Math.min(5000, n / 10)
  for (let i = 0; i < warm; i++) cycle(kind, dir, i, drop === 'drop')
  const before = await measure()
  let half
  for (let i = 0; i < n; i++) {
    cycle(kind, dir, i, drop === 'drop')
    if (i % 5000 === 4999) await settle()
    if (i === Math.floor(n / 2)) half = await measure()
  }
  const after = await measure()
  process.stdout.write(`${JSON.stringify({ n, before, half, after })}\n`)
} else if (mode === 'gc') {
  const [dir, nText] = args
  const n = Number(nText)
  const fdsAtStart = fds(dir)
  ;(() => {
    for (let i = 0; i < n; i++) {
      const r = MmapResource.open(token, { path: join(dir, `g${i}.bin`), initialLen: 8192 })
      r.writeAt(0, data)
      if (i % 2) r.commit()
    }
  })()
  const mappedBefore = mapsLines(dir)
  const fdsBefore = fds(dir)
  let rounds = 0
  while (rounds < 50 && (mapsLines(dir) > 0 || fds(dir) > fdsAtStart)) {
    globalThis.gc()
    await new Promise((r) => setTimeout(r, 5))
    rounds++
  }
  process.stdout.write(
    `${JSON.stringify({ n, mappedBefore, fdsBefore, mappedAfter: mapsLines(dir), fdsAfter: fds(dir), rounds })}\n`,
  )
} else {
  throw new Error(`unknown mode ${mode}`)
}
