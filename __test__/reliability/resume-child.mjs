// Child process of the resume test (__test__/reliability/resume.test.ts): a
// download with persisted ranges that the parent kills with SIGKILL.
//
//   node resume-child.mjs flush <path> <size> <seed>
//     Opens <path> with persistRanges and writes what is missing (nextGap)
//     in pieces of seeded random sizes, in a seeded random order, with
//     flush() after every few pieces; commits and closes when complete.
//   node resume-child.mjs checkpoint <path> <size>
//     Writes [0, size) in 1 MiB pieces with no flush() and then idles: only
//     the core's periodic checkpoint (every 16 MiB written) records ranges.
//
// The bytes are the pattern of pattern.cjs (a function of the offset), so the
// parent can check any range a later open claims. One JSON line per event on
// stdout (a pipe, written synchronously on Linux, so a line the parent got
// was printed after what it reports was done):
//   { ready: ranges }          opened; what the record gave back
//   { flushed: ranges }        flush() returned; the record holds at least these
//   { written: bytes }         (checkpoint mode) bytes written so far
//   { complete: true }         committed and closed
import { CancellationToken, MmapResource } from '@kithara/storage'
import { pattern } from './pattern.cjs'
import { xorshift } from './xorshift.cjs'

const [mode, path, sizeArg, seedArg] = process.argv.slice(2)
const size = Number(sizeArg)
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)
const r = MmapResource.open(new CancellationToken(), { path, initialLen: size, persistRanges: true })
say({ ready: r.ranges() })

if (mode === 'flush') {
  const rand = xorshift(Number(seedArg))
  const pieces = []
  for (let gap = r.nextGap(0, size); gap; gap = r.nextGap(gap.end, size)) {
    for (let at = gap.start; at < gap.end; ) {
      const len = Math.min(gap.end - at, 1 + rand(1024 * 1024))
      pieces.push([at, len])
      at += len
    }
  }
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = rand(i + 1)
    ;[pieces[i], pieces[j]] = [pieces[j], pieces[i]]
  }
  let untilFlush = 1 + rand(4)
  for (const [at, len] of pieces) {
    r.writeAt(at, pattern(at, len))
    if (--untilFlush === 0) {
      const ranges = r.ranges()
      r.flush()
      say({ flushed: ranges })
      untilFlush = 1 + rand(4)
    }
  }
  r.commit(size)
  r.close()
  say({ complete: true })
} else if (mode === 'checkpoint') {
  const PIECE = 1024 * 1024
  for (let at = 0; at < size; at += PIECE) {
    r.writeAt(at, pattern(at, PIECE))
    say({ written: at + PIECE })
  }
  // Idle, never closing (a close would record the ranges itself), and
  // holding the resource: if it were collected, dropping it would record too.
  setInterval(() => r.isClosed(), 1000)
} else {
  throw new Error(`unknown mode ${mode}`)
}
