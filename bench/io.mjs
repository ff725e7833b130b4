// Group 1 (and 6): readAt/writeAt throughput at random offsets in a 64 MiB
// span, on MmapResource and MemResource, against positional fs I/O on an open
// fd and against Buffer.copy (the memcpy limit).
//
// 4 KiB operations are timed in interleaved rounds: each round runs every
// contender once over the same 16,384 offsets, one after the other, so a
// slow spell of the machine hits all of them alike; a case reports the median
// of its rounds and the spread (min..max). The same rounds time the call
// floor: `isClosed()` through the same binding, a call that does nothing but
// cross into native code and back. A small operation then reads as a
// multiple of floor + memcpy, which says how much of it is ours. The memcpy
// is `Uint8Array.prototype.set` of the same 4 KiB at the same offsets (a V8
// builtin: no crossing into C++, unlike `Buffer.copy`, which pays a call of
// its own and is kept as the 1 MiB baseline and a 4 KiB contender).
//
// `--only mem4k` runs just the 4 KiB MemResource cases (group 6 runs this
// twice, once with KITHARA_STORAGE_BACKEND=wasm).
import fs from 'node:fs'
import path from 'node:path'
import { CancellationToken, MemResource, MmapResource, backendName } from '@kithara/storage'
import { Bench } from 'tinybench'
import { KIB, MIB, emit, log, median, randomBytes, randomOffsets, scratchDir } from './lib.mjs'

const SPAN = 64 * MIB
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null
const timeMs = Number(process.env.BENCH_TIME_MS ?? 400)
/** Interleaved rounds of the 4 KiB cases, and operations per case per round. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const SMALL_OPS = 1 << 14
/** The offsets every 4 KiB contender uses, in this order, every round. */
const smallOffsets = randomOffsets(SMALL_OPS, SPAN, 4 * KIB, 4 * KIB)

/** Operations per tinybench iteration, so the timer's own cost stays negligible. */
const BATCH = { [MIB]: 1 }
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
    floors.push({ name: 'floor binding', call: () => mem.native.isClosed() })
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
  for (const [name, res] of [
    ['mmap', mmap],
    ['mem', mem],
  ]) {
    const raw = res.native
    list.push({
      name: `${name} (binding only)`,
      diagnostic: true,
      read: (o, b) => raw.readAt(o, b),
      write: (o, d) => raw.writeAt(o, d),
    })
  }
  // The call floor: a member that does nothing, through the same binding
  // object, and through the facade.
  const rawMmap = mmap.native
  floors.push({ name: 'floor binding', call: () => rawMmap.isClosed() })
  floors.push({ name: 'floor facade', call: () => mmap.isClosed() })

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
  // The bare memcpy: views made up front, so a read is one builtin `set`.
  const views = Array.from(smallOffsets, (o) => span.subarray(o, o + 4 * KIB))
  list.push({
    name: 'memcpy',
    smallOnly: true,
    read: (_o, b, k) => b.set(views[k]),
    write: (o, d) => span.set(d, o),
  })
  return list
}

/** No-op calls timed beside the 4 KiB cases: { name, call() }. */
const floors = []
const list = contenders()
const cases = []

/**
 * The 4 KiB cases and the floors, in interleaved rounds. Returns one case
 * per timed function: median ns per operation over the rounds, min and max.
 */
function smallRounds() {
  const len = 4 * KIB
  const offsets = smallOffsets
  const timed = []
  for (const f of floors) {
    timed.push({
      name: f.name,
      contender: f.name,
      op: 'call',
      run: () => {
        const call = f.call
        for (let k = 0; k < SMALL_OPS; k++) call()
      },
    })
  }
  for (const c of list) {
    for (const op of ['writeAt', 'readAt']) {
      const buf = randomBytes(len)
      const fn = op === 'writeAt' ? c.write : c.read
      timed.push({
        name: `${op} 4KiB ${c.name}`,
        contender: c.name,
        op,
        diagnostic: !!c.diagnostic,
        run: () => {
          for (let k = 0; k < SMALL_OPS; k++) fn(offsets[k], buf, k)
        },
      })
    }
  }
  // Warm-up: one round untimed (JIT, page tables, caches).
  for (const t of timed) t.run()
  const ns = timed.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    timed.forEach((t, i) => {
      const t0 = process.hrtime.bigint()
      t.run()
      ns[i].push(Number(process.hrtime.bigint() - t0) / SMALL_OPS)
    })
  }
  return timed.map((t, i) => {
    const sorted = ns[i].slice().sort((a, b) => a - b)
    const p50 = median(sorted)
    const isCall = t.op === 'call'
    const mbps = (x) => len / 1e6 / (x / 1e9)
    log(`${t.name.padEnd(36)} ${p50.toFixed(0).padStart(6)} ns (${sorted[0].toFixed(0)}..${sorted.at(-1).toFixed(0)})`)
    return {
      name: t.name,
      op: t.op,
      size: '4KiB',
      contender: t.contender,
      diagnostic: t.diagnostic ?? false,
      unit: isCall ? 'ns/call' : 'MB/s',
      p50: isCall ? p50 : mbps(p50),
      nsPerOp: p50,
      nsMin: sorted[0],
      nsMax: sorted.at(-1),
      rounds: ns[i],
      opsPerRound: SMALL_OPS,
    }
  })
}
cases.push(...smallRounds())

const bench = new Bench({ time: timeMs, warmupTime: 100, warmup: true })
const meta = []
for (const { label, len } of SIZES) {
  if (len === 4 * KIB) continue
  const offsets = randomOffsets(1 << 16, SPAN, len, len === MIB ? 4 * KIB : len)
  const mask = offsets.length - 1
  const batch = BATCH[len]
  for (const c of list) {
    if (c.diagnostic || c.smallOnly) continue
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

if (bench.tasks.length > 0) bench.runSync()

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
