// Group 8: time to the first byte of a read stream over a slowly filled
// resource. A writer adds 16 KiB every 5 ms (about 3 MB/s, a slow origin);
// the reader starts at the same moment with 1 MiB chunks and measures when
// its first byte arrives:
//
//   ours       resource.createReadStream({ highWaterMark: 1 MiB }): waits for
//              one byte and pushes what is present.
//   baseline   the loop the stream used to be (and what a user writes with
//              waitRange alone): waitRange(pos, pos + 1 MiB), then readAt.
//
// Rounds alternate the two; medians are reported. BENCH_READ_ROUNDS
// overrides the round count.
import { CancellationToken, MemResource } from '@kithara/storage'
import { KIB, MIB, emit, log, median, nowNs } from './lib.mjs'

const ROUNDS = Number(process.env.BENCH_READ_ROUNDS ?? 5)
const PIECE = 16 * KIB
const EVERY_MS = 5
const CHUNK = MIB

/** Writes `PIECE` bytes every `EVERY_MS` until stopped. */
function slowWriter(r) {
  const piece = new Uint8Array(PIECE).fill(1)
  let at = 0
  const timer = setInterval(() => {
    r.writeAt(at, piece)
    at += PIECE
  }, EVERY_MS)
  return () => clearInterval(timer)
}

/** Milliseconds from the start to the first byte, with `read` as the reader. */
async function firstByteMs(read) {
  const r = MemResource.open(new CancellationToken())
  const t0 = nowNs()
  const stop = slowWriter(r)
  await read(r)
  const ms = (nowNs() - t0) / 1e6
  stop()
  r.close()
  return ms
}

const streamed = (r) =>
  new Promise((resolve, reject) => {
    const s = r.createReadStream({ highWaterMark: CHUNK })
    s.once('data', () => {
      s.destroy()
      resolve()
    })
    s.once('error', reject)
  })

const wholeChunk = async (r) => {
  await r.waitRange(0, CHUNK)
  r.readAt(0, Buffer.allocUnsafe(CHUNK))
}

const ours = []
const base = []
for (let i = 0; i < ROUNDS; i++) {
  ours.push(await firstByteMs(streamed))
  base.push(await firstByteMs(wholeChunk))
  log(`round ${i}: stream ${ours[i].toFixed(1)} ms, whole-chunk wait ${base[i].toFixed(1)} ms`)
}
emit({
  group: 'read-stream',
  cases: [
    { name: 'first byte, read stream', unit: 'ms', p50: median(ours), samples: ours },
    { name: 'first byte, whole-chunk wait', unit: 'ms', p50: median(base), samples: base },
  ],
})
process.exit(0)
