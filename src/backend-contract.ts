/**
 * The contract between the TypeScript facade and a backend, implemented by
 * both: the napi-rs addon (`crates/kithara-storage-node`, loaded through the
 * generated `native-binding.js`) and the WebAssembly build
 * (`crates/kithara-storage-wasm`, `pkg-wasm/`). Each binding's generator
 * writes its typings; `backend-contract.check.mts` makes the compiler prove
 * that both fit this contract, so a binding and the facade cannot drift.
 *
 * Both backends are thin: they convert arguments, call the Rust core's
 * binding layer (`kithara_storage::binding`) and convert errors. The facade
 * validates every argument *before* calling in here, so a backend may assume
 * offsets and lengths are integers in [0, Number.MAX_SAFE_INTEGER], data and
 * buffers are Uint8Array, and enum strings are valid.
 *
 * Errors: a backend throws an `Error` whose `message` is the core's message
 * and which carries `code` (a `StorageErrorCode`); for `ERR_STORAGE_IO` also
 * `errno` (negative, as in Node fs errors, when known), `syscall`, `path`
 * and `systemCode` (the POSIX name, e.g. `ENOSPC`); `reason` for
 * `ERR_STORAGE_FAILED`. The facade rewraps it as a `StorageError`.
 * After `close()`, every member but `status()` (which says `closed`),
 * `isClosed()` and `close()` throws `ERR_STORAGE_CLOSED`: the core's rule.
 *
 * Waits: `waitRange` never blocks. It returns the outcome when the core
 * decides at once, otherwise a positive integer id; later the backend calls
 * the dispatcher given to `setWaitDispatcher` for that id, on the JavaScript
 * thread that registered the wait. `cancelWait(id)` withdraws a pending wait
 * and returns whether it was still pending; the dispatcher then gets no
 * result for it (or only `(id, null, null)`, which names no wait the facade
 * still has).
 *
 * Ranges cross as flat lists of numbers: `[start0, end0, start1, end1, …]`.
 */
import type { StorageErrorCode } from './errors.js'

/** How a file opens. */
export type OpenMode = 'auto' | 'readWrite' | 'readOnly'
/** How a wait ended. */
export type WaitOutcome = 'ready' | 'eof' | 'interrupted'
/** Which decorator a resource opens behind (`chunked`: files only). */
export type Flavor = 'plain' | 'atomic' | 'chunked'
/** The driver underneath a resource. */
export type ResourceKind = 'mmap' | 'mem'
/** The lifecycle state. */
export type StatusKind = 'active' | 'committed' | 'failed' | 'cancelled' | 'closed'
/** What an observer is told of. */
export type ProgressEvent = 'write' | 'commit' | 'fail' | 'close'
/** Why a file opened with less than it seemed to hold (`none` in memory). */
export type Recovery = 'none' | 'missing' | 'damaged' | 'mismatch'

/** A status as the core reports it (`finalLen` once committed, `reason` once failed). */
export interface BackendStatus {
  readonly kind: StatusKind
  readonly finalLen?: number
  readonly reason?: string
}

/** The error a backend throws or hands to the dispatcher. */
export interface BackendError extends Error {
  code: StorageErrorCode
  errno?: number
  syscall?: string
  systemCode?: string
  path?: string
  reason?: string
}

/** `[start0, end0, start1, end1, …]`. */
export type FlatRanges = ArrayLike<number>

/**
 * Called once per pending wait: `error` set (a {@link BackendError}), or
 * `outcome` set. Typed `Error` because the bindings' generated typings
 * cannot say more; the facade reads the code at run time.
 */
export type WaitDispatcher = (id: number, error?: Error | null, outcome?: WaitOutcome | null) => void

/**
 * Progress events: `('write', start, end)`, `('commit', finalLen, 0)`,
 * `('fail', 0, 0, reason)` and `('close', 0, 0)`.
 */
export type ProgressObserver = (event: ProgressEvent, a: number, b: number, reason?: string | null) => void

export interface BackendToken {
  cancel(): void
  isCancelled(): boolean
  child(): BackendToken
  /** Registry id, for `tokenFromShared` (in any worker thread on native). */
  share(): number
}

export interface BackendResource {
  readonly kind: ResourceKind
  writeAt(offset: number, data: Uint8Array): void
  /** Copies straight into `buf` (any view, SharedArrayBuffer too); returns bytes read. */
  readAt(offset: number, buf: Uint8Array): number
  writeAll(data: Uint8Array): void
  /** Only on resources opened `atomic`; fsyncs before the rename. */
  writeAllDurable(data: Uint8Array): void
  readAll(): Uint8Array
  waitRange(start: number, end: number): WaitOutcome | number
  cancelWait(id: number): boolean
  /** Blocks this thread; `timeoutMs` null means no limit. */
  waitRangeSync(start: number, end: number, timeoutMs: number | null): WaitOutcome
  containsRange(start: number, end: number): boolean
  /**
   * Waits pending in the core on this resource (blocked `waitRangeSync`
   * calls of any thread, registered `waitRange`s). A diagnostic for tests
   * (e.g. to know a worker is blocked before acting); not public API.
   */
  pendingWaiters(): number
  /** One `[start, end]` pair, or nothing. */
  nextGap(from: number, limit: number): FlatRanges | null | undefined
  /** Every written range, merged, in order. */
  ranges(): FlatRanges
  presentBytes(): number
  /** `finalLen` null means "the end of the highest written byte". */
  commit(finalLen: number | null): void
  fail(reason: string): void
  reactivate(): void
  interrupt(): void
  status(): BackendStatus
  /** The final length once committed, else the expected length. */
  len(): number | null | undefined
  isEmpty(): boolean
  expectedLen(): number | null | undefined
  /** Null clears it. */
  setExpectedLen(len: number | null): void
  /** The metadata kept with the range record (in memory without one). */
  metadata(): Record<string, string>
  /** A string sets an entry, null removes it; all at once. */
  updateMetadata(changes: Record<string, string | null>): void
  recovery(): Recovery
  /** `flush()` off this thread; settles on this thread's event loop. */
  sync(): Promise<void>
  path(): string | null | undefined
  flush(): void
  close(): void
  isClosed(): boolean
  /** Whether the resource follows a writer in another process (fixed at open). */
  isFollower(): boolean
  /** The same underlying resource behind an `Atomic` decorator. */
  atomic(): BackendResource
  /** Registry id (weak), for `resourceFromShared` (in any worker thread on native). */
  share(): number
  /**
   * This object's observer, called on this JS thread after writes, the
   * commit, a failure and the close. Pass null to stop. Every object of a
   * resource (on any thread) may have one, and each gets every event.
   */
  setObserver(observer: ProgressObserver | null): void
}

/** A `MemCoverage` of the core: which byte ranges of a download have arrived. */
export interface BackendCoverage {
  mark(start: number, end: number): void
  setTotalSize(total: number): void
  totalSize(): number | null | undefined
  /** One `[start, end]` pair, or nothing. */
  nextGap(from: number): FlatRanges | null | undefined
  isComplete(): boolean
  /** Merged, in order. */
  ranges(): FlatRanges
}

/** What a backend module exports. */
export interface BackendModule {
  newToken(): BackendToken
  tokenFromShared(id: number): BackendToken
  /** `initialLen` null means the default size. */
  openMmap(
    token: BackendToken,
    path: string,
    initialLen: number | null,
    mode: OpenMode,
    persistRanges: boolean,
    flavor: Flavor,
  ): BackendResource
  openMem(token: BackendToken, initialData: Uint8Array | null, capacity: number, flavor: Flavor): BackendResource
  resourceFromShared(id: number): BackendResource
  setWaitDispatcher(dispatcher: WaitDispatcher): void
  newCoverage(): BackendCoverage
}

/** A loaded backend: its module's exports and its name. */
export interface Backend extends BackendModule {
  readonly name: 'native' | 'wasm'
}
