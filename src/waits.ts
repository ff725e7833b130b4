/**
 * The promise side of `waitRange`: one dispatcher per thread settles the
 * waits the backend decides later; timeouts and abort signals withdraw them.
 * Which waits are pending is the backend's table (the core's
 * `PendingWaits`); here each id only maps to its promise.
 *
 * Demand: whatever fills a resource (a running `download()`) may set a
 * demand hook on it. Every wait that has to wait (a `waitRange`, a read
 * stream, a `serveRange` body) then tells the hook which bytes it waits for,
 * so they are fetched first, and withdraws that demand when it ends.
 */
import type { BackendResource, WaitOutcome } from './backend-contract.js'
import { whenBackendLoaded } from './backend.js'
import { type CapturedStack, type Site, abortError, captureStack, fromBackendError, storageError } from './errors.js'

/** What a demand hook does: fetch `[start, end)` first; returns the function that withdraws it. */
export type DemandFn = (start: number, end: number) => () => void

/** What fills a resource, as waits and `serveRange` see it. */
export interface DemandHook {
  /** Fetch `[start, end)` before anything else; returns the withdrawal. */
  demand: DemandFn
  /** Settles once the filler knows what it fills (a download's first answer). */
  ready: Promise<unknown>
}

/**
 * Demand hooks by the resource's shared id, so that every object of one
 * resource on this thread (a `fromShared` twin, `StorageResource.from`)
 * finds the same hook.
 */
const hooks = new Map<number, DemandHook>()
const sharedIds = new WeakMap<BackendResource, number>()

/** The shared id of `resource`, or null once it is closed. */
function sharedIdOf(resource: BackendResource): number | null {
  let id = sharedIds.get(resource)
  if (id === undefined) {
    try {
      id = resource.share()
    } catch {
      return null
    }
    sharedIds.set(resource, id)
  }
  return id
}

/** Sets `hook` on `resource` (replacing another); returns the function that removes it. */
export function setDemandHook(resource: BackendResource, hook: DemandHook): () => void {
  const id = sharedIdOf(resource)
  if (id === null) return () => {}
  hooks.set(id, hook)
  return () => {
    if (hooks.get(id) === hook) hooks.delete(id)
  }
}

/** The demand hook of `resource`, if something fills it now. */
export function demandHookOf(resource: BackendResource): DemandHook | null {
  if (hooks.size === 0) return null
  const id = sharedIdOf(resource)
  return id === null ? null : (hooks.get(id) ?? null)
}

/**
 * One pending wait. A class rather than closures: with 10,000 waits pending,
 * one object per wait (plus the promise and its two resolvers) instead of
 * three closures, their shared context and an entry object roughly halves the
 * memory each wait holds (see BENCHMARKS.md).
 */
class PendingWait {
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  onAbort: (() => void) | undefined = undefined
  /** Withdraws this wait's demand. */
  release: (() => void) | undefined = undefined
  constructor(
    readonly id: number,
    readonly resource: BackendResource,
    readonly resolve: (outcome: WaitOutcome) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
    readonly stack: CapturedStack | undefined,
  ) {}

  /** Removes this wait's timer, abort listener and demand. */
  cleanup(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.onAbort) removeAbortListener(this.signal, this.onAbort)
    const release = this.release
    this.release = undefined
    release?.()
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
 *
 * An abort rejects with an `AbortError` whose `cause` is the signal's
 * reason, as `fs/promises` does. The abort listener is added before the wait
 * is registered, so a signal whose `addEventListener` throws leaves nothing
 * registered (the promise rejects with what it threw). No JavaScript runs
 * between the registration and the pending entry, so no abort falls between.
 */
export function startWait(
  resource: BackendResource,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  site: Function,
): Promise<WaitOutcome> {
  let onAbort: (() => void) | undefined
  let w: PendingWait | undefined
  if (signal) {
    if (signal.aborted) return Promise.reject(abortError(signal, site))
    const s = signal
    onAbort = () => w?.withdraw(abortError(s, w.stack))
    try {
      s.addEventListener('abort', onAbort, { once: true })
    } catch (e) {
      return Promise.reject(e)
    }
  }
  let first: WaitOutcome | number
  try {
    first = resource.waitRange(start, end)
  } catch (e) {
    if (onAbort) removeAbortListener(signal, onAbort)
    return Promise.reject(fromBackendError(e, site))
  }
  if (typeof first === 'string') {
    if (onAbort) removeAbortListener(signal, onAbort)
    return Promise.resolve(first)
  }
  const id = first
  const stack: Site = captureStack(site)
  const promise = new Promise<WaitOutcome>((resolve, reject) => {
    w = new PendingWait(id, resource, resolve, reject, signal, stack)
  })
  const wait = w as PendingWait
  wait.onAbort = onAbort
  pending.set(id, wait)
  const hook = demandHookOf(resource)
  if (hook) wait.release = hook.demand(start, end)
  if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) {
    const deadline = Date.now() + timeoutMs
    const arm = (ms: number): void => {
      wait.timer = setTimeout(() => {
        const left = deadline - Date.now()
        if (left > 0) arm(Math.min(left, MAX_TIMER_MS))
        else {
          const message = `wait for bytes ${start}..${end} timed out after ${timeoutMs} ms`
          wait.withdraw(storageError('ERR_STORAGE_TIMEOUT', message, stack))
        }
      }, ms)
    }
    arm(Math.min(timeoutMs, MAX_TIMER_MS))
  }
  return promise
}

/** Removes `listener` from `signal`, ignoring a signal that throws doing it. */
function removeAbortListener(signal: AbortSignal | undefined, listener: () => void): void {
  try {
    signal?.removeEventListener('abort', listener)
  } catch {
    // The listener stays, and does nothing: the wait is settled.
  }
}
