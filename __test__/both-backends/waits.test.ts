/** waitRange: woken by every event kind, signals, timeouts, thousands pending. */
import { pbkdf2 } from 'node:crypto'
import { getEventListeners } from 'node:events'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { CancellationToken, MemResource, StorageError, type StorageErrorCode } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'
import { bytes, pendingWaiters } from '../helpers.js'

const open = () => {
  const token = new CancellationToken()
  return { token, r: MemResource.open(token) }
}

async function rejectsWith(
  t: import('ava').ExecutionContext,
  p: Promise<unknown>,
  code: StorageErrorCode,
): Promise<StorageError> {
  const err = await t.throwsAsync(p, { instanceOf: StorageError })
  t.is(err?.code, code)
  return err as StorageError
}

test('woken by write (only when the whole range is written)', async (t) => {
  const { r } = open()
  const p = r.waitRange(0, 10)
  let settled = false
  void p.then(() => {
    settled = true
  })
  r.writeAt(0, bytes(5))
  await new Promise((res) => setImmediate(res))
  t.false(settled)
  r.writeAt(5, bytes(5))
  t.is(await p, 'ready')
})

test('woken by commit: ready (clamped) and eof', async (t) => {
  const { r } = open()
  r.writeAt(0, bytes(10))
  const clamped = r.waitRange(5, 100)
  const eof = r.waitRange(10, 20)
  const past = r.waitRange(50, 60)
  r.commit()
  t.is(await clamped, 'ready')
  t.is(await eof, 'eof')
  t.is(await past, 'eof')
})

test('woken by fail with ERR_STORAGE_FAILED and the reason', async (t) => {
  const { r } = open()
  const p = r.waitRange(0, 1)
  r.fail('http 500')
  const err = await rejectsWith(t, p, 'ERR_STORAGE_FAILED')
  t.is(err.reason, 'http 500')
})

test('woken by cancel with ERR_STORAGE_CANCELLED', async (t) => {
  const { r, token } = open()
  const p = r.waitRange(0, 1)
  token.cancel()
  await rejectsWith(t, p, 'ERR_STORAGE_CANCELLED')
})

test('woken by interrupt with interrupted', async (t) => {
  const { r } = open()
  const ps = [r.waitRange(0, 1), r.waitRange(5, 9)]
  r.interrupt()
  t.deepEqual(await Promise.all(ps), ['interrupted', 'interrupted'])
})

test('woken by close with ERR_STORAGE_CLOSED (every pending wait)', async (t) => {
  const { r } = open()
  const ps = Array.from({ length: 50 }, (_, i) => r.waitRange(i, i + 1))
  r.close()
  for (const p of ps) await rejectsWith(t, p, 'ERR_STORAGE_CLOSED')
})

test('ERR_STORAGE_INVALID_RANGE for start > end (async and sync)', async (t) => {
  const { r } = open()
  await rejectsWith(t, r.waitRange(10, 5), 'ERR_STORAGE_INVALID_RANGE')
  const err = t.throws(() => r.waitRangeSync(10, 5), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_INVALID_RANGE')
})

test('ERR_STORAGE_TIMEOUT after timeoutMs; the resource stays usable', async (t) => {
  const { r } = open()
  await rejectsWith(t, r.waitRange(0, 1, { timeoutMs: 20 }), 'ERR_STORAGE_TIMEOUT')
  t.is(pendingWaiters(r), 0, 'the timed-out wait is withdrawn from the core')
  const err = t.throws(() => r.waitRangeSync(0, 1, { timeoutMs: 20 }), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_TIMEOUT')
  const p = r.waitRange(0, 1, { timeoutMs: 60_000 })
  r.writeAt(0, bytes(1))
  t.is(await p, 'ready')
  t.deepEqual(r.status(), { kind: 'active' })
})

/** Asserts `err` is what fs/promises rejects an aborted call with: an AbortError with the reason as cause. */
function isAbortError(t: ExecutionContext, err: unknown, reason: unknown): void {
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown }
  t.true(err instanceof Error, 'an Error')
  t.is(e.name, 'AbortError')
  t.is(e.code, 'ABORT_ERR')
  t.is(e.message, 'The operation was aborted')
  t.is(e.cause, reason)
}

test('a signal rejects only its own wait, with an AbortError caused by signal.reason', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const aborted = r.waitRange(0, 4, { signal: ac.signal })
  const other = r.waitRange(0, 4)
  const reason = new Error('user seeked')
  t.is(pendingWaiters(r), 2)
  ac.abort(reason)
  const err = await t.throwsAsync(aborted)
  isAbortError(t, err, reason)
  t.regex(String(err?.stack), /waits\.test/, 'the stack points at the waitRange call')
  t.is(pendingWaiters(r), 1, 'the aborted wait is withdrawn from the core')
  r.writeAt(0, bytes(4))
  t.is(await other, 'ready')
  t.deepEqual(r.status(), { kind: 'active' })
})

test('abort() without a reason rejects with an AbortError', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const p = r.waitRange(0, 1, { signal: ac.signal })
  ac.abort()
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  isAbortError(t, err, ac.signal.reason)
  t.is((ac.signal.reason as { name?: string }).name, 'AbortError', 'the default reason is a DOMException')
})

test('an already-aborted signal rejects at once, even for a ready range', async (t) => {
  const { r } = open()
  r.writeAt(0, bytes(1))
  const reason = new Error('already')
  const err = await t.throwsAsync(r.waitRange(0, 1, { signal: AbortSignal.abort(reason) }))
  isAbortError(t, err, reason)
})

test('a signal that never fires does not disturb the wait', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const p = r.waitRange(0, 2, { signal: ac.signal, timeoutMs: 60_000 })
  r.writeAt(0, bytes(2))
  t.is(await p, 'ready')
  ac.abort()
})

test('rejections carry a stack through the caller', async (t) => {
  const { r } = open()
  const p = r.waitRange(0, 1)
  r.fail('x')
  const err = await rejectsWith(t, p, 'ERR_STORAGE_FAILED')
  t.regex(String(err.stack), /waits\.test/)
})

test('10k pending waits leave fs and crypto on the threadpool working', async (t) => {
  const { r } = open()
  const n = 10_000
  const waits = Array.from({ length: n }, (_, i) => r.waitRange(i, i + 1))
  const [file, key] = await Promise.all([
    readFile(__filename),
    promisify(pbkdf2)('secret', 'salt', 1000, 32, 'sha256'),
    ...Array.from({ length: 8 }, () => readFile(__filename)),
  ])
  t.true(file.length > 0)
  t.is(key.length, 32)
  r.writeAt(0, new Uint8Array(n))
  const outcomes = await Promise.all(waits)
  t.is(outcomes.length, n)
  t.true(outcomes.every((o) => o === 'ready'))
})

test('10k waits with signals and timeouts settle and clean up', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const waits = Array.from({ length: 10_000 }, (_, i) =>
    r.waitRange(i, i + 1, { signal: ac.signal, timeoutMs: 60_000 }).then(
      () => 'ok',
      (e: unknown) => ((e as { cause?: unknown }).cause === ac.signal.reason ? 'aborted' : 'other'),
    ),
  )
  ac.abort()
  const results = await Promise.all(waits)
  t.true(results.every((x) => x === 'aborted'))
  // The core no longer holds them: a write decides nothing and nothing leaks into later waits.
  r.writeAt(0, bytes(2))
  t.is(await r.waitRange(0, 2), 'ready')
})

test('timeouts beyond setTimeout’s range and Infinity do not fire early', async (t) => {
  const { r } = open()
  const p = r.waitRange(0, 1, { timeoutMs: 2 ** 40 })
  const q = r.waitRange(0, 1, { timeoutMs: Number.POSITIVE_INFINITY })
  await new Promise((res) => setTimeout(res, 20))
  r.writeAt(0, bytes(1))
  t.deepEqual(await Promise.all([p, q]), ['ready', 'ready'])
  t.is(r.waitRangeSync(0, 1, { timeoutMs: Number.POSITIVE_INFINITY }), 'ready')
  t.is(r.waitRangeSync(0, 1, { timeoutMs: 0.5 }), 'ready')
})

// Serial: it replaces the global setTimeout, which no other test may see.
test.serial('a timeout past setTimeout’s limit is armed in steps within it, re-armed when a step ends', async (t) => {
  const MAX = 2 ** 31 - 1
  const realSetTimeout = globalThis.setTimeout
  const delays: number[] = []
  let fired = false
  // Long timers are recorded; the first one fires at once, as if its 24.8
  // days had passed. Short ones (the test's own) run as usual.
  const fake = ((fn: () => void, ms?: number) => {
    if (ms === undefined || ms < 2 ** 30) return realSetTimeout(fn, ms)
    delays.push(ms)
    if (fired) return realSetTimeout(() => {}, MAX)
    fired = true
    return realSetTimeout(fn, 0)
  }) as typeof setTimeout
  globalThis.setTimeout = fake
  t.teardown(() => {
    globalThis.setTimeout = realSetTimeout
  })
  const { r } = open()
  const ac = new AbortController()
  let settled = false
  const p = r.waitRange(0, 1, { timeoutMs: 3 * MAX, signal: ac.signal })
  t.teardown(() => ac.abort())
  p.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res))
  globalThis.setTimeout = realSetTimeout
  // setTimeout clamps a larger delay to 1 ms (with a warning): each step must fit.
  t.true(delays.length === 2 && delays.every((d) => d <= MAX), `delays ${delays}`)
  t.false(settled, 'the wait timed out after the first step, not the whole timeout')
  ac.abort()
  await t.throwsAsync(p, { name: 'AbortError' })
})

test('a wait lets go of its signal however it ends: at once, woken, refused, timed out', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const listeners = (): number => getEventListeners(ac.signal, 'abort').length
  r.writeAt(0, bytes(1))
  t.is(await r.waitRange(0, 1, { signal: ac.signal }), 'ready')
  t.is(listeners(), 0, 'a wait decided at once')
  const woken = r.waitRange(1, 2, { signal: ac.signal })
  t.is(listeners(), 1)
  r.writeAt(1, bytes(1, 1))
  t.is(await woken, 'ready')
  t.is(listeners(), 0, 'a woken wait')
  await rejectsWith(t, r.waitRange(2, 1, { signal: ac.signal }), 'ERR_STORAGE_INVALID_RANGE')
  t.is(listeners(), 0, 'a refused wait')
  await rejectsWith(t, r.waitRange(5, 6, { signal: ac.signal, timeoutMs: 1 }), 'ERR_STORAGE_TIMEOUT')
  t.is(listeners(), 0, 'a timed-out wait')
})

test('a signal aborted after the wait settled changes nothing', async (t) => {
  const { r } = open()
  const ac = new AbortController()
  const p = r.waitRange(0, 1, { signal: ac.signal })
  r.writeAt(0, bytes(1))
  t.is(await p, 'ready')
  ac.abort()
  r.close()
  const late = await r.waitRange(0, 1, { signal: ac.signal }).then(
    () => undefined,
    (e: unknown) => e,
  )
  isAbortError(t, late, ac.signal.reason)
})

test('2,000 sequential waits, each decided by a write in a later task: woken, not polled', async (t) => {
  // Each wait is pending when its write runs (the write is queued behind
  // it), so it settles through the wake-up. Woken, 2,000 of them take
  // milliseconds; polled every 50 ms they would take 100 s. Bounded at 20 s.
  const TRIPS = 2_000
  const BOUND_MS = 20_000
  t.timeout(BOUND_MS + 30_000)
  const { r } = open()
  const one = new Uint8Array([1])
  let trips = 0
  let timedOut = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true
      resolve()
    }, BOUND_MS)
  })
  const run = (async () => {
    for (let k = 0; k < TRIPS && !timedOut; k++) {
      const p = r.waitRange(k, k + 1, { timeoutMs: BOUND_MS })
      setImmediate(() => r.writeAt(k, one))
      if ((await p) !== 'ready') throw new Error(`trip ${k}`)
      trips = k + 1
    }
  })()
  try {
    await Promise.race([run, bound])
  } finally {
    clearTimeout(timer)
  }
  t.false(timedOut, `only ${trips} of ${TRIPS} waits settled in ${BOUND_MS} ms: a wait is not woken by its write`)
  t.is(trips, TRIPS)
})
