/**
 * The WebAssembly backend, independent of how the module was loaded: it
 * turns the flat exports of `crates/kithara-storage-wasm` (objects behind
 * numeric handles) into the `NativeBackend` contract of `native.ts`.
 *
 * No Node built-ins here: the browser entry and the Node loader
 * (`backend-wasm.ts`) both use it.
 *
 * Differences from the napi backend, all forced by WebAssembly:
 * - `openMmap` (and so `AtomicChunked`) throws `ERR_STORAGE_UNSUPPORTED`: no files.
 * - `waitRangeSync` answers at once when the range is already decided. Otherwise
 *   nothing on this one thread could decide it while the thread blocks, so:
 *   a finite timeout sleeps it out (`Atomics.wait`, where the thread may
 *   block: Node, workers) and throws `ERR_STORAGE_TIMEOUT`; no timeout, or a
 *   thread that may not block (a page's main thread), throws
 *   `ERR_STORAGE_UNSUPPORTED` instead of hanging.
 * - `share()`/`*FromShared()` work within one JavaScript realm (one module
 *   instance), not across worker threads: each worker has its own memory.
 * - `close()` releases the resource's memory at once. Afterwards `status()`
 *   and `len()` report the state at close, `isClosed()` is true, and every
 *   other method throws `ERR_STORAGE_CLOSED`.
 */
import type {
  NativeBackend,
  NativeCoverage,
  NativeError,
  NativeOpenMode,
  NativeResource,
  NativeStatus,
  NativeToken,
  NativeWaitOutcome,
  WaitDispatcher,
} from './native.js'

/** The exports of the wasm-bindgen glue this backend uses (see the crate's `lib.rs`). */
export interface WasmGlue {
  set_schedule_hook(schedule: () => void): void
  drain(
    onWait: (id: number, error: NativeError | null, outcome: NativeWaitOutcome | null) => void,
    onEvent: (observer: number, kind: 'write' | 'commit', a: number, b: number) => void,
  ): void
  token_new(): number
  token_cancel(handle: number): void
  token_is_cancelled(handle: number): boolean
  token_child(handle: number): number
  token_clone(handle: number): number
  token_free(handle: number): void
  mem_open(token: number, initialData: Uint8Array | null | undefined, capacity: number, atomic: boolean): number
  res_clone(handle: number): number
  res_atomic(handle: number): number
  res_free(handle: number): void
  res_write_at(handle: number, offset: number, data: Uint8Array): void
  res_read_at(handle: number, offset: number, buf: Uint8Array): number
  res_write_all(handle: number, data: Uint8Array): void
  res_write_all_durable(handle: number, data: Uint8Array): void
  res_read_all(handle: number): Uint8Array
  res_wait_range(handle: number, start: number, end: number): NativeWaitOutcome | number
  cancel_wait(id: number): boolean
  res_wait_range_now(handle: number, start: number, end: number): NativeWaitOutcome
  res_contains_range(handle: number, start: number, end: number): boolean
  res_next_gap(handle: number, from: number, limit: number): Float64Array | undefined
  res_commit(handle: number, finalLen: number): void
  res_fail(handle: number, reason: string): void
  res_reactivate(handle: number): void
  res_interrupt(handle: number): void
  res_status(handle: number): NativeStatus
  res_len(handle: number): number | undefined
  res_flush(handle: number): void
  res_close(handle: number): void
  res_is_closed(handle: number): boolean
  res_set_observer(handle: number, enabled: boolean): void
  cov_new(): number
  cov_free(handle: number): void
  cov_mark(handle: number, start: number, end: number): void
  cov_set_total_size(handle: number, total: number): void
  cov_total_size(handle: number): number | undefined
  cov_next_gap(handle: number, from: number): Float64Array | undefined
  cov_is_complete(handle: number): boolean
  cov_ranges(handle: number): Array<[number, number]>
  mmap_unsupported_error(): NativeError
  wasm_memory(): { readonly buffer: ArrayBuffer }
}

/** The wasm backend plus what tests and benchmarks want to see of the module. */
export interface WasmBackend extends NativeBackend {
  readonly name: 'wasm'
  /** Current size of the module's linear memory, in bytes (it never shrinks). */
  memoryBytes(): number
}

/** An `ERR_STORAGE_UNSUPPORTED` error, worded as the core words them. */
function unsupported(what: string): NativeError {
  return Object.assign(new Error(`unsupported: ${what}`), { code: 'ERR_STORAGE_UNSUPPORTED' as const })
}

/**
 * Blocks the thread for `ms` milliseconds; `false` where it may not block
 * (a page's main thread, or no SharedArrayBuffer without cross-origin isolation).
 */
function sleepSync(ms: number): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
    return true
  } catch {
    return false
  }
}

type Observer = (event: 'write' | 'commit', a: number, b: number) => void

/** Builds the backend on an initialized glue module. */
export function createWasmBackend(glue: WasmGlue): WasmBackend {
  const memory = glue.wasm_memory()
  let dispatcher: WaitDispatcher | undefined
  const observers = new Map<number, Observer>()

  const onWait = (id: number, error: NativeError | null, outcome: NativeWaitOutcome | null): void => {
    dispatcher?.(id, error, outcome)
  }
  const onEvent = (key: number, kind: 'write' | 'commit', a: number, b: number): void => {
    observers.get(key)?.(kind, a, b)
  }
  let draining = false
  const drain = (): void => {
    draining = false
    // Until a dispatcher is set, decided waits stay queued in the module.
    if (dispatcher) glue.drain(onWait, onEvent)
  }
  // The module calls this when its event queue becomes non-empty: one
  // microtask per burst of events, never a timer.
  glue.set_schedule_hook(() => {
    if (!draining) {
      draining = true
      queueMicrotask(drain)
    }
  })

  // Frees table entries of wrappers collected without close().
  const finalizer = new FinalizationRegistry<() => void>((free) => free())

  class WasmToken implements NativeToken {
    constructor(readonly handle: number) {
      finalizer.register(this, () => glue.token_free(handle))
    }
    cancel(): void {
      glue.token_cancel(this.handle)
    }
    isCancelled(): boolean {
      return glue.token_is_cancelled(this.handle)
    }
    child(): NativeToken {
      return new WasmToken(glue.token_child(this.handle))
    }
    share(): number {
      return this.handle
    }
  }

  class WasmResource implements NativeResource {
    readonly kind = 'mem' as const
    private closedState: { status: NativeStatus; len: number | null } | undefined

    constructor(readonly handle: number) {
      finalizer.register(this, () => glue.res_free(handle), this)
    }
    writeAt(offset: number, data: Uint8Array): void {
      glue.res_write_at(this.handle, offset, data)
    }
    readAt(offset: number, buf: Uint8Array): number {
      return glue.res_read_at(this.handle, offset, buf)
    }
    writeAll(data: Uint8Array): void {
      glue.res_write_all(this.handle, data)
    }
    writeAllDurable(data: Uint8Array): void {
      glue.res_write_all_durable(this.handle, data)
    }
    readAll(): Uint8Array {
      return glue.res_read_all(this.handle)
    }
    waitRange(start: number, end: number): NativeWaitOutcome | number {
      return glue.res_wait_range(this.handle, start, end)
    }
    cancelWait(id: number): boolean {
      return glue.cancel_wait(id)
    }
    waitRangeSync(start: number, end: number, timeoutMs: number): NativeWaitOutcome {
      try {
        return glue.res_wait_range_now(this.handle, start, end)
      } catch (e) {
        if ((e as NativeError).code !== 'ERR_STORAGE_TIMEOUT' || timeoutMs === 0) throw e
        if (timeoutMs > 0 && sleepSync(timeoutMs)) throw e
        throw unsupported('waitRangeSync cannot block on this WebAssembly thread; use waitRange')
      }
    }
    containsRange(start: number, end: number): boolean {
      return glue.res_contains_range(this.handle, start, end)
    }
    nextGap(from: number, limit: number): [number, number] | null {
      const gap = glue.res_next_gap(this.handle, from, limit)
      return gap ? [gap[0] as number, gap[1] as number] : null
    }
    commit(finalLen: number): void {
      glue.res_commit(this.handle, finalLen)
    }
    fail(reason: string): void {
      glue.res_fail(this.handle, reason)
    }
    reactivate(): void {
      glue.res_reactivate(this.handle)
    }
    interrupt(): void {
      glue.res_interrupt(this.handle)
    }
    status(): NativeStatus {
      return this.closedState ? this.closedState.status : glue.res_status(this.handle)
    }
    len(): number | null {
      if (this.closedState) return this.closedState.len
      return glue.res_len(this.handle) ?? null
    }
    path(): string | null {
      return null
    }
    flush(): void {
      glue.res_flush(this.handle)
    }
    close(): void {
      if (this.closedState) return
      // Keep what the core would still report after close, then let the
      // module drop everything (buffer, state, waiters) now.
      this.closedState = { status: glue.res_status(this.handle), len: glue.res_len(this.handle) ?? null }
      observers.delete(this.handle)
      finalizer.unregister(this)
      glue.res_close(this.handle)
    }
    isClosed(): boolean {
      return this.closedState !== undefined || glue.res_is_closed(this.handle)
    }
    atomic(): NativeResource {
      return new WasmResource(glue.res_atomic(this.handle))
    }
    share(): number {
      return this.handle
    }
    setObserver(observer: Observer | null): void {
      glue.res_set_observer(this.handle, observer !== null)
      if (observer) observers.set(this.handle, observer)
      else observers.delete(this.handle)
    }
  }

  class WasmCoverage implements NativeCoverage {
    constructor(readonly handle: number) {
      finalizer.register(this, () => glue.cov_free(handle))
    }
    mark(start: number, end: number): void {
      glue.cov_mark(this.handle, start, end)
    }
    setTotalSize(total: number): void {
      glue.cov_set_total_size(this.handle, total)
    }
    totalSize(): number | null {
      return glue.cov_total_size(this.handle) ?? null
    }
    nextGap(from: number): [number, number] | null {
      const gap = glue.cov_next_gap(this.handle, from)
      return gap ? [gap[0] as number, gap[1] as number] : null
    }
    isComplete(): boolean {
      return glue.cov_is_complete(this.handle)
    }
    ranges(): Array<[number, number]> {
      return glue.cov_ranges(this.handle)
    }
  }

  const tokenHandle = (token: NativeToken): number => {
    if (!(token instanceof WasmToken)) throw unsupported('a token of another backend')
    return token.handle
  }

  return {
    name: 'wasm',
    newToken: () => new WasmToken(glue.token_new()),
    tokenFromShared: (id) => new WasmToken(glue.token_clone(id)),
    openMmap(
      _token: NativeToken,
      _path: string,
      _initialLen: number,
      _mode: NativeOpenMode,
      _persistRanges: boolean,
      _flavor: 'plain' | 'atomic' | 'chunked',
    ): NativeResource {
      throw glue.mmap_unsupported_error()
    },
    openMem: (token, initialData, capacity, flavor) =>
      new WasmResource(glue.mem_open(tokenHandle(token), initialData, capacity, flavor === 'atomic')),
    resourceFromShared: (id) => new WasmResource(glue.res_clone(id)),
    setWaitDispatcher(d: WaitDispatcher): void {
      dispatcher = d
      // Deliver whatever was decided before a dispatcher existed.
      drain()
    },
    newCoverage: () => new WasmCoverage(glue.cov_new()),
    memoryBytes: () => memory.buffer.byteLength,
  }
}
