/** Shared helpers of the ava suite. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

/** A fresh temp directory, removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kithara-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The bytes 0, 1, 2 … (mod 256), `n` of them, offset by `seed`. */
export function bytes(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i + seed) & 0xff
  return out
}

/** A bad argument and the Node-style error it must cause. */
export interface BadValue {
  label: string
  value: unknown
  ctor: typeof TypeError | typeof RangeError
  code: 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE'
}

/** Bad values for an offset or length argument. */
export const badOffsets: BadValue[] = [
  { label: 'NaN', value: Number.NaN, ctor: RangeError, code: 'ERR_OUT_OF_RANGE' },
  { label: '-1', value: -1, ctor: RangeError, code: 'ERR_OUT_OF_RANGE' },
  { label: '1.5', value: 1.5, ctor: RangeError, code: 'ERR_OUT_OF_RANGE' },
  { label: '2**53', value: 2 ** 53, ctor: RangeError, code: 'ERR_OUT_OF_RANGE' },
  { label: 'Infinity', value: Number.POSITIVE_INFINITY, ctor: RangeError, code: 'ERR_OUT_OF_RANGE' },
  { label: "'1'", value: '1', ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: '1n', value: 1n, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'null', value: null, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'undefined', value: undefined, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: '{}', value: {}, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
]

/** Bad values for an optional offset (null and undefined mean "default" there). */
export const badOptionalOffsets: BadValue[] = badOffsets.filter((b) => b.value !== null && b.value !== undefined)

/** Bad values for a data/buffer argument. */
export const badBuffers: BadValue[] = [
  { label: 'Array', value: [1, 2, 3], ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'DataView', value: new DataView(new ArrayBuffer(4)), ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'ArrayBuffer', value: new ArrayBuffer(4), ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'Uint16Array', value: new Uint16Array(2), ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'string', value: 'abc', ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'number', value: 1, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'null', value: null, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: 'undefined', value: undefined, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  { label: '{}', value: {}, ctor: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
]

/** Asserts `fn` throws a Node-style argument error matching `bad`. */
export function throwsArg(t: ExecutionContext, fn: () => unknown, bad: BadValue, what: string): void {
  const err = t.throws(fn, { instanceOf: bad.ctor }, `${what} with ${bad.label}`)
  t.is((err as { code?: string } | undefined)?.code, bad.code, `${what} with ${bad.label}`)
}

/** Resolves after `ms` (lets another thread reach its blocking call; never asserted on). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Waits pending in the core on `r` (blocked `waitRangeSync` calls of any
 * thread, registered `waitRange`s): the backend's diagnostic member, not
 * public API.
 */
export function pendingWaiters(r: object): number {
  return (r as { native: { pendingWaiters(): number } }).native.pendingWaiters()
}

/**
 * Resolves once at least `n` waits are pending on `r` (a worker is provably
 * blocked in its wait); rejects after `boundMs`, so a wait that never
 * registers fails the test instead of hanging it.
 */
export async function untilPending(r: object, n: number, boundMs = 10_000): Promise<void> {
  // Each turn sleeps at least 1 ms: the turn count bounds the time.
  for (let turns = 0; pendingWaiters(r) < n; turns++) {
    if (turns > boundMs) throw new Error(`${n} wait(s) never became pending within ${boundMs} ms`)
    await sleep(1)
  }
}
