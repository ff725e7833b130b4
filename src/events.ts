/**
 * Events of a resource: the core's `AvailabilityObserver` as
 * `resource.on('write', ({ start, end }) => …)`, `'commit'`, `'fail'`,
 * `'close'`, and `'error'`.
 *
 * The backend calls one observer per backend object, on the thread that set
 * it; the core tells every observer of the resource, so a `fromShared` twin
 * or a worker thread that listens takes nothing away from this one. Here
 * the events of one loop turn are queued and delivered together on the next
 * (`setImmediate`), and a write that touches or overlaps a queued write is
 * merged into it, so a download of many small writes costs a handful of
 * listener calls per turn. The order of events is kept: a write is never
 * merged across a commit, a failure or the close.
 *
 * Liveness: the backend's observer keeps no thread alive (a listener alone
 * must not keep a process running), so an event could be dropped if the
 * loop ended between the change and its delivery. Every change made on this
 * thread while some listener is registered here therefore holds the loop for
 * one more turn ({@link expectEvents}), in which the event arrives: a
 * script's last `writeAll` still reaches its `'commit'` listener.
 *
 * `'error'` is emitted when the resource fails (right after `'fail'`), with
 * the `StorageError` (`ERR_STORAGE_FAILED`) its waiters reject with. It is
 * there so that `events.once(resource, 'commit')` rejects when the commit
 * will not come and `events.on(resource, 'write')` ends with that error:
 * both listen for `'error'`. Unlike an `EventEmitter`, a resource with no
 * `'error'` listener throws nothing when it fails.
 */
import type { BackendResource, ProgressEvent } from './backend-contract.js'
import { type Site, type StorageError, fromBackendError, storageError } from './errors.js'
import { validateFunction, validateOneOf } from './validate.js'

/** A half-open byte range `[start, end)` that became readable. */
export interface WriteEvent {
  start: number
  end: number
}

/** The resource was committed with `finalLen` bytes. */
export interface CommitEvent {
  finalLen: number
}

/** The resource was failed with `reason` (by `fail()`, a write stream or a download). */
export interface FailEvent {
  reason: string
}

/** The events a resource emits and what their listeners receive. */
export interface ResourceEventMap {
  write: WriteEvent
  commit: CommitEvent
  fail: FailEvent
  /** The resource was closed (through any object, on any thread): the last event. */
  close: undefined
  /** The resource failed: the `StorageError` its waiters reject with. */
  error: StorageError
}

/** `'write' | 'commit' | 'fail' | 'close' | 'error'`. */
export type ResourceEventName = keyof ResourceEventMap

/** A listener of `event`. */
export type ResourceEventListener<E extends ResourceEventName> = (event: ResourceEventMap[E]) => void

type Payload = ResourceEventMap[ResourceEventName]
type AnyListener = (event?: Payload) => void

interface Registration {
  listener: AnyListener
  once: boolean
}

type Queued =
  | { kind: 'write'; range: WriteEvent }
  | { kind: 'commit'; event: CommitEvent }
  | { kind: 'fail'; event: FailEvent }
  | { kind: 'close' }

/** How far back a new write looks for a queued write to merge with. */
const MERGE_WINDOW = 16

const EVENT_NAMES: readonly ResourceEventName[] = ['write', 'commit', 'fail', 'close', 'error']

const schedule: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0)

/** Hubs of this thread with an observer installed. */
let observingHubs = 0
/** Loop turns the loop is still held open for. */
let holdTurns = 0

/**
 * Called by every member that makes an event (write, commit, fail, close):
 * if anything listens on this thread, holds the event loop open until the
 * backend has delivered the event. The backend signals it at once, and it
 * is taken in at the loop's next poll, at the latest one full turn after a
 * change made inside an I/O callback: so two turns, counted again from the
 * latest change. One immediate at a time; nothing at all while nobody listens.
 */
export function expectEvents(): void {
  if (observingHubs === 0) return
  const held = holdTurns > 0
  holdTurns = 2
  if (!held) schedule(hold)
}

function hold(): void {
  if (--holdTurns > 0) schedule(hold)
}

/** The listeners and pending events of one backend resource object. */
class ProgressHub {
  private readonly listeners: Record<ResourceEventName, Registration[]> = {
    write: [],
    commit: [],
    fail: [],
    close: [],
    error: [],
  }
  private queue: Queued[] = []
  private scheduled = false
  private observing = false

  constructor(private readonly resource: BackendResource) {}

  add(event: ResourceEventName, listener: AnyListener, once: boolean, site: Site): void {
    if (!this.observing) {
      try {
        this.resource.setObserver((kind, a, b, reason) => this.receive(kind, a, b, reason))
      } catch (e) {
        throw fromBackendError(e, site)
      }
      this.setObserving(true)
    }
    this.listeners[event].push({ listener, once })
  }

  remove(event: ResourceEventName, listener: AnyListener): void {
    const list = this.listeners[event]
    const i = list.findIndex((r) => r.listener === listener)
    if (i >= 0) list.splice(i, 1)
    this.stopIfUnused()
  }

  private removeRegistration(event: ResourceEventName, reg: Registration): void {
    const list = this.listeners[event]
    const i = list.indexOf(reg)
    if (i >= 0) list.splice(i, 1)
    this.stopIfUnused()
  }

  private setObserving(on: boolean): void {
    if (on === this.observing) return
    this.observing = on
    observingHubs += on ? 1 : -1
  }

  count(event: ResourceEventName): number {
    return this.listeners[event].length
  }

  private stopIfUnused(): void {
    if (!this.observing || EVENT_NAMES.some((e) => this.listeners[e].length > 0)) return
    this.setObserving(false)
    this.queue = []
    try {
      this.resource.setObserver(null)
    } catch {
      // A closed resource has no observer left to remove.
    }
  }

  private receive(kind: ProgressEvent, a: number, b: number, reason: string | null | undefined): void {
    if (kind === 'write') this.queueWrite(a, b)
    else if (kind === 'commit') this.queue.push({ kind: 'commit', event: { finalLen: a } })
    else if (kind === 'fail') this.queue.push({ kind: 'fail', event: { reason: reason ?? '' } })
    else {
      // The core let go of this observer after telling it.
      this.setObserving(false)
      this.queue.push({ kind: 'close' })
    }
    if (!this.scheduled) {
      this.scheduled = true
      schedule(() => this.deliver())
    }
  }

  private queueWrite(start: number, end: number): void {
    const q = this.queue
    // Merge only back to the last other event, so no write moves across it.
    for (let i = q.length - 1; i >= 0 && i >= q.length - MERGE_WINDOW; i--) {
      const item = q[i]
      if (item.kind !== 'write') break
      const r = item.range
      if (start <= r.end && r.start <= end) {
        r.start = Math.min(r.start, start)
        r.end = Math.max(r.end, end)
        return
      }
    }
    q.push({ kind: 'write', range: { start, end } })
  }

  private deliver(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    for (const item of batch) {
      switch (item.kind) {
        case 'write':
          this.emit('write', () => ({ ...item.range }))
          break
        case 'commit':
          this.emit('commit', () => ({ ...item.event }))
          break
        case 'fail': {
          const { reason } = item.event
          this.emit('fail', () => ({ reason }))
          if (this.listeners.error.length > 0) {
            const error = storageError('ERR_STORAGE_FAILED', `resource failed: ${reason}`, undefined, { reason })
            this.emit('error', () => error)
          }
          break
        }
        case 'close':
          this.emit('close', () => undefined)
          break
      }
    }
  }

  /** Calls the listeners of `event`, each with its own `payload()`, so one cannot change what the next sees. */
  private emit(event: ResourceEventName, payload: () => Payload): void {
    const list = this.listeners[event]
    if (list.length === 0) return
    // A copy: listeners may add or remove listeners while being called.
    for (const reg of list.slice()) {
      if (reg.once) this.removeRegistration(event, reg)
      const value = payload()
      if (value === undefined) reg.listener()
      else reg.listener(value)
    }
  }
}

const hubs = new WeakMap<BackendResource, ProgressHub>()

function hubOf(resource: BackendResource): ProgressHub {
  let hub = hubs.get(resource)
  if (!hub) {
    hub = new ProgressHub(resource)
    hubs.set(resource, hub)
  }
  return hub
}

/** Validates an event name and listener (Node's codes). */
function validateListener(event: unknown, listener: unknown): asserts event is ResourceEventName {
  validateOneOf(event, 'event', EVENT_NAMES)
  validateFunction(listener, 'listener')
}

/** Adds a listener of `event` on `resource` (the observer is installed with the first one). */
export function addResourceListener(
  resource: BackendResource,
  event: unknown,
  listener: unknown,
  once: boolean,
  site: Site,
): void {
  validateListener(event, listener)
  hubOf(resource).add(event, listener as AnyListener, once, site)
}

/** Removes a listener of `event` (the observer is removed with the last one). */
export function removeResourceListener(resource: BackendResource, event: unknown, listener: unknown): void {
  validateListener(event, listener)
  hubs.get(resource)?.remove(event, listener as AnyListener)
}

/** How many listeners of `event` `resource` has. */
export function resourceListenerCount(resource: BackendResource, event: ResourceEventName): number {
  return hubs.get(resource)?.count(event) ?? 0
}
