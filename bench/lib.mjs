// Helpers shared by the benchmark groups: timing, percentiles, random
// offsets, scratch files and the one-line JSON protocol with bench/run.mjs.
import { randomFillSync } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const KIB = 1024
export const MIB = 1024 * 1024

/** Monotonic nanoseconds as a Number (same clock in every thread of the process). */
export function nowNs() {
  return Number(process.hrtime.bigint())
}

/** Percentile `p` (0..100) of `samples`, nearest-rank on a sorted copy. */
export function percentile(samples, p) {
  const sorted = Float64Array.from(samples).sort()
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

/** Median of `samples`. */
export function median(samples) {
  return percentile(samples, 50)
}

/**
 * `count` random offsets, multiples of `align`, such that `[off, off + len)`
 * stays inside `[0, span)`. A fixed seed keeps every contender on the same
 * sequence of offsets.
 */
export function randomOffsets(count, span, len, align, seed = 0x9e3779b9) {
  let x = seed >>> 0
  const slots = Math.floor((span - len) / align) + 1
  const out = new Float64Array(count)
  for (let i = 0; i < count; i++) {
    // xorshift32: cheap, deterministic, good enough to defeat prefetching.
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = (x % slots) * align
  }
  return out
}

/** A Buffer of `len` random bytes. */
export function randomBytes(len) {
  const buf = Buffer.allocUnsafe(len)
  randomFillSync(buf)
  return buf
}

/** A fresh scratch directory, removed by the returned function. */
export function scratchDir(tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kithara-bench-${tag}-`))
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  process.once('exit', remove)
  return { dir, remove }
}

/**
 * Prints this group's result as the last stdout line, tagged so the runner
 * can find it among any other output.
 */
export function emit(result) {
  process.stdout.write(`\n@@BENCH@@${JSON.stringify(result)}\n`)
}

/** Runs `gc()` a few times when the process has `--expose-gc`. */
export function collect() {
  if (typeof globalThis.gc === 'function') {
    for (let i = 0; i < 3; i++) globalThis.gc()
  }
}

/** Log to stderr (stdout carries the result line). */
export function log(...args) {
  process.stderr.write(`${args.join(' ')}\n`)
}
