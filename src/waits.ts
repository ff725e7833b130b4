/**
 * The promise side of `waitRange`: one dispatcher per thread settles the
 * waits the backend decides later; timeouts and abort signals withdraw them.
 * Which waits are pending is the backend's table (the core's
 * `PendingWaits`); here each id only maps to its promise.
 */
import type { BackendResource, WaitOutcome } from './backend-contract.js'
import { whenBackendLoaded } from './backend.js'
import { type CapturedStack, type Site, captureStack, fromBackendError, storageError } from './errors.js'

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
    readonly resource: BackendResource,
    readonly resolve: (outcome: WaitOutcome) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
    readonly stack: CapturedStack | undefined,
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
    this.resource.cancelWait(this.id)
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
    if (error) wait.reject(fromBackendError(error, wait.stack))
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
 * Starts a wait on `resource` for `[start, end)`; see `ResourceBase.waitRange`.
 * `site` is the public method, where the stack of a rejection starts.
 */
export function startWait(
  resource: BackendResource,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  site: Function,
): Promise<WaitOutcome> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  let first: WaitOutcome | number
  try {
    first = resource.waitRange(start, end)
  } catch (e) {
    return Promise.reject(fromBackendError(e, site))
  }
  if (typeof first === 'string') return Promise.resolve(first)
  const id = first
  const stack: Site = captureStack(site)
  let wait: PendingWait | undefined
  const promise = new Promise<WaitOutcome>((resolve, reject) => {
    wait = new PendingWait(id, resource, resolve, reject, signal, stack)
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
          const message = `wait for bytes ${start}..${end} timed out after ${timeoutMs} ms`
          w.withdraw(storageError('ERR_STORAGE_TIMEOUT', message, stack))
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
