/**
 * Promise side of `waitRange`: one dispatcher per thread settles the pending
 * waits the backend decides later; timeouts and abort signals withdraw them.
 */
import { whenBackendLoaded } from './backend.js'
import { StorageError, captureSite, toStorageErrorWithStack } from './errors.js'
import type { NativeResource, NativeWaitOutcome } from './native.js'

/**
 * One pending wait. A class rather than closures: with 10,000 waits pending,
 * one object per wait (plus the promise and its two resolvers) instead of
 * three closures, their shared context and an entry object roughly halves the
 * memory each wait holds (see BENCHMARKS.md).
 */
class PendingWait {
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  onAbort: (() => void) | undefined = undefined
  constructor(
    readonly id: number,
    readonly native: NativeResource,
    readonly resolve: (outcome: NativeWaitOutcome) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
    readonly site: { stack?: string } | undefined,
  ) {}

  /** Removes this wait's timer and abort listener. */
  cleanup(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.onAbort && this.signal) this.signal.removeEventListener('abort', this.onAbort)
  }

  /** Withdraws the wait from the backend and rejects it (timeout, abort). */
  withdraw(error: unknown): void {
    if (!pending.delete(this.id)) return
    this.cleanup()
    try {
      this.native.cancelWait(this.id)
    } catch {
      // The resource is gone (closed or dropped): nothing left to withdraw.
    }
    this.reject(error)
  }
}

/** Pending waits of this thread by backend id. */
const pending = new Map<number, PendingWait>()

whenBackendLoaded((b) => {
  b.setWaitDispatcher((id, error, outcome) => {
    const wait = pending.get(id)
    // Unknown ids are waits already withdrawn by a timeout or an abort.
    if (!wait) return
    pending.delete(id)
    wait.cleanup()
    if (error) wait.reject(toStorageErrorWithStack(error, wait.site))
    else wait.resolve(outcome ?? 'interrupted')
  })
})

/** setTimeout's largest delay; longer timeouts re-arm. */
const MAX_TIMER_MS = 2_147_483_647

/** Number of waits of this thread still pending (for tests and diagnostics). */
export function pendingWaitCount(): number {
  return pending.size
}

/**
 * Starts a wait on `native` for `[start, end)`; see `ResourceBase.waitRange`.
 * `site` is the public method, for the stack of a later rejection.
 */
export function startWait(
  native: NativeResource,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  site: unknown,
  rethrow: (e: unknown) => unknown,
): Promise<NativeWaitOutcome> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  let first: NativeWaitOutcome | number
  try {
    first = native.waitRange(start, end)
  } catch (e) {
    return Promise.reject(rethrow(e))
  }
  if (typeof first === 'string') return Promise.resolve(first)
  const id = first
  const stack = captureSite(site)
  let wait: PendingWait | undefined
  const promise = new Promise<NativeWaitOutcome>((resolve, reject) => {
    wait = new PendingWait(id, native, resolve, reject, signal, stack)
  })
  const w = wait as PendingWait
  pending.set(id, w)
  if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) {
    const deadline = Date.now() + timeoutMs
    const arm = (ms: number): void => {
      w.timer = setTimeout(() => {
        const left = deadline - Date.now()
        if (left > 0) arm(Math.min(left, MAX_TIMER_MS))
        else {
          const err = new StorageError(
            'ERR_STORAGE_TIMEOUT',
            `wait for bytes ${start}..${end} timed out after ${timeoutMs} ms`,
          )
          if (stack?.stack !== undefined)
            err.stack = `${String(err.stack).split('\n', 1)[0]}\n${stack.stack.split('\n').slice(1).join('\n')}`
          w.withdraw(err)
        }
      }, ms)
    }
    arm(Math.min(timeoutMs, MAX_TIMER_MS))
  }
  if (signal) {
    w.onAbort = () => w.withdraw(signal.reason)
    signal.addEventListener('abort', w.onAbort, { once: true })
  }
  return promise
}
