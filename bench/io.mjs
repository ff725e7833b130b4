// Group 1 (and 6): readAt/writeAt throughput at random offsets in a 64 MiB
// span, on MmapResource and MemResource, against positional fs I/O on an open
// fd and against Buffer.copy (the memcpy limit).
//
// `--only mem4k` runs just the 4 KiB MemResource cases (group 6 runs this
// twice, once with KITHARA_STORAGE_BACKEND=wasm).
import fs from 'node:fs'
import path from 'node:path'
import { CancellationToken, MemResource, MmapResource, backendName } from '@kithara/storage'
import { Bench } from 'tinybench'
import { KIB, MIB, emit, log, randomBytes, randomOffsets, scratchDir } from './lib.mjs'

const SPAN = 64 * MIB
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null
const timeMs = Number(process.env.BENCH_TIME_MS ?? 400)

/** Operations per tinybench iteration, so the timer's own cost stays negligible. */
const BATCH = { [4 * KIB]: 64, [MIB]: 1 }
const SIZES = [
  { label: '4KiB', len: 4 * KIB },
  { label: '1MiB', len: MIB },
]

const { dir } = scratchDir('io')
const token = new CancellationToken()

/** Writes the whole span once so later accesses hit resident pages. */
function prefill(write) {
  const chunk = randomBytes(MIB)
  for (let off = 0; off < SPAN; off += MIB) write(off, chunk)
}

/** The contenders: each has read(off, buf) and write(off, data). */
function contenders() {
  const list = []
  if (only === 'mem4k') {
    const mem = MemResource.open(token, { capacity: SPAN })
    prefill((o, d) => mem.writeAt(o, d))
    list.push({ name: 'mem', read: (o, b) => mem.readAt(o, b), write: (o, d) => mem.writeAt(o, d) })
    return list
  }

  const mmap = MmapResource.open(token, { path: path.join(dir, 'mmap.bin'), initialLen: SPAN })
  prefill((o, d) => mmap.writeAt(o, d))
  list.push({ name: 'mmap', read: (o, b) => mmap.readAt(o, b), write: (o, d) => mmap.writeAt(o, d) })

  const mem = MemResource.open(token, { capacity: SPAN })
  prefill((o, d) => mem.writeAt(o, d))
  list.push({ name: 'mem', read: (o, b) => mem.readAt(o, b), write: (o, d) => mem.writeAt(o, d) })

  // The same calls without the facade (argument checks, error rewrapping):
  // shows what the TypeScript layer costs on top of the binding.
  const rawMmap = mmap.native
  list.push({
    name: 'mmap (binding only)',
    diagnostic: true,
    read: (o, b) => rawMmap.readAt(o, b),
    write: (o, d) => rawMmap.writeAt(o, d),
  })

  const fd = fs.openSync(path.join(dir, 'fs.bin'), 'w+')
  prefill((o, d) => fs.writeSync(fd, d, 0, d.length, o))
  list.push({
    name: 'fs',
    read: (o, b) => fs.readSync(fd, b, 0, b.length, o),
    write: (o, d) => fs.writeSync(fd, d, 0, d.length, o),
  })

  const span = randomBytes(SPAN)
  list.push({
    name: 'Buffer.copy',
    read: (o, b) => span.copy(b, 0, o, o + b.length),
    write: (o, d) => d.copy(span, o, 0, d.length),
  })
  return list
}

const list = contenders()
const bench = new Bench({ time: timeMs, warmupTime: 100, warmup: true })
const meta = []
for (const { label, len } of SIZES) {
  if (only === 'mem4k' && len !== 4 * KIB) continue
  const offsets = randomOffsets(1 << 16, SPAN, len, len === MIB ? 4 * KIB : len)
  const mask = offsets.length - 1
  const batch = BATCH[len]
  for (const c of list) {
    if (c.diagnostic && len !== 4 * KIB) continue
    for (const op of ['writeAt', 'readAt']) {
      const buf = randomBytes(len)
      let i = 0
      const fn =
        op === 'writeAt'
          ? () => {
              for (let k = 0; k < batch; k++) c.write(offsets[i++ & mask], buf)
            }
          : () => {
              for (let k = 0; k < batch; k++) c.read(offsets[i++ & mask], buf)
            }
      const name = `${op} ${label} ${c.name}`
      bench.add(name, fn)
      meta.push({ name, op, size: label, contender: c.name, batch, bytes: len * batch, diagnostic: !!c.diagnostic })
    }
  }
}

bench.runSync()

const cases = []
for (const task of bench.tasks) {
  const m = meta.find((x) => x.name === task.name)
  const r = task.result
  if (!r || !('latency' in r)) {
    log(`task ${task.name} did not complete: ${r?.state} ${r?.error ?? ''}`)
    continue
  }
  // latency is ms per iteration; report MB/s (10^6 bytes) at the median iteration.
  const mbps = (ms) => m.bytes / 1e6 / (ms / 1e3)
  cases.push({
    ...m,
    unit: 'MB/s',
    p50: mbps(r.latency.p50),
    p99: mbps(r.latency.p99),
    mean: mbps(r.latency.mean),
    nsPerOp: (r.latency.p50 * 1e6) / m.batch,
    samples: r.latency.samples?.length ?? r.latency.samplesCount,
  })
  log(`${task.name.padEnd(36)} ${mbps(r.latency.p50).toFixed(0).padStart(7)} MB/s`)
}

emit({ group: only === 'mem4k' ? 'wasm' : 'io', backend: backendName(), cases })
process.exit(0)
