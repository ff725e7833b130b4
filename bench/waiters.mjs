// Group 4: scale of waiting. 10,000 pending waitRange promises on distinct
// one-byte ranges of a MemResource: memory per waiter (heapUsed + external,
// and RSS, deltas around their creation, gc() before each reading), and the
// time from one writeAt that covers every range to all of them resolved.
// Run with --expose-gc.
import { CancellationToken, MemResource } from '@kithara/storage'
import { collect, emit, log, median, nowNs } from './lib.mjs'

const WAITERS = Number(process.env.BENCH_WAITERS ?? 10_000)
const ROUNDS = Number(process.env.BENCH_WAITER_ROUNDS ?? 5)

if (typeof globalThis.gc !== 'function') {
  log('waiters.mjs needs --expose-gc for meaningful memory numbers')
}

function memory() {
  collect()
  const m = process.memoryUsage()
  return { js: m.heapUsed + m.external, rss: m.rss }
}

async function once() {
  const token = new CancellationToken()
  const res = MemResource.open(token, { capacity: WAITERS })
  const data = new Uint8Array(WAITERS).fill(7)
  const before = memory()
  const waits = new Array(WAITERS)
  for (let i = 0; i < WAITERS; i++) waits[i] = res.waitRange(i, i + 1)
  const after = memory()
  let resolvedAt = 0
  const all = Promise.all(waits).then(() => {
    resolvedAt = nowNs()
  })
  const t0 = nowNs()
  res.writeAt(0, data)
  await all
  const ms = (resolvedAt - t0) / 1e6
  res.close()
  return { js: after.js - before.js, rss: after.rss - before.rss, ms }
}

// One unmeasured round warms the code paths and the allocator.
await once()
const rounds = []
for (let r = 0; r < ROUNDS; r++) {
  const x = await once()
  rounds.push(x)
  log(
    `round ${r}: js +${(x.js / 1e6).toFixed(2)} MB, rss +${(x.rss / 1e6).toFixed(2)} MB, resolved in ${x.ms.toFixed(2)} ms`,
  )
}
const js = median(rounds.map((x) => x.js))
const rss = median(rounds.map((x) => x.rss))
const ms = median(rounds.map((x) => x.ms))
emit({
  group: 'waiters',
  waiters: WAITERS,
  cases: [
    {
      name: `${WAITERS} pending waitRange: memory`,
      unit: 'MB',
      // The larger of the two views: JS heap + external, or resident set.
      p50: Math.max(js, rss) / 1e6,
      jsBytes: js,
      rssBytes: rss,
      bytesPerWaiter: Math.max(js, rss) / WAITERS,
    },
    { name: `${WAITERS} pending waitRange: resolve all`, unit: 'ms', p50: ms },
  ],
})
process.exit(0)
