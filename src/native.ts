/**
 * The contract between the TypeScript facade and a backend.
 *
 * Two backends implement it: the napi-rs addon (`crates/kithara-storage-node`,
 * loaded through the generated `index.js`) and the WebAssembly build
 * (`crates/kithara-storage-wasm`). Both are thin: they convert arguments,
 * call the Rust core and convert errors. The facade (`src/*.ts`) validates
 * every argument *before* calling in here, so a backend may assume:
 * offsets/lengths are integers in [0, Number.MAX_SAFE_INTEGER], data and
 * buffers are Uint8Array, enum strings are valid.
 *
 * Errors: a backend throws an `Error` whose `message` is the core's message
 * and which carries `code` (one of the StorageErrorCode strings below); for
 * ERR_STORAGE_IO also `errno` (negative number, as in Node fs errors, when
 * known), `syscall` (string) and `path` (string, when known). The facade
 * rewraps it as a `StorageError` with a JavaScript stack.
 *
 * Waits: `waitRange` never blocks. It returns the outcome string when the
 * core decides at once, otherwise a positive integer id; later the backend
 * calls the dispatcher given to `setWaitDispatcher` exactly once for that id,
 * on the JavaScript thread that registered the wait (napi: one
 * ThreadsafeFunction per env, not one per wait). `cancelWait(id)` withdraws
 * a pending wait (the dispatcher is then never called for it) and returns
 * whether it was still pending.
 */

export type StorageErrorCode =
  | 'ERR_STORAGE_CANCELLED'
  | 'ERR_STORAGE_FAILED'
  | 'ERR_STORAGE_INVALID_RANGE'
  | 'ERR_STORAGE_COMMITTED'
  | 'ERR_STORAGE_READ_ONLY'
  | 'ERR_STORAGE_IO'
  | 'ERR_STORAGE_CLOSED'
  | 'ERR_STORAGE_TIMEOUT'
  | 'ERR_STORAGE_TMP_CLAIMED'
  | 'ERR_STORAGE_UNSUPPORTED'

export type NativeOpenMode = 'auto' | 'readWrite' | 'readOnly'
export type NativeWaitOutcome = 'ready' | 'eof' | 'interrupted'

/** A status as the core reports it (finalLen is always a number once committed). */
export type NativeStatus =
  | { kind: 'active' }
  | { kind: 'committed'; finalLen: number }
  | { kind: 'failed'; reason: string }
  | { kind: 'cancelled' }

/** The error a backend throws or hands to the dispatcher. */
export interface NativeError extends Error {
  code: StorageErrorCode
  errno?: number
  syscall?: string
  path?: string
  reason?: string
}

/** Called once per pending wait: `error` set, or `outcome` set. */
export type WaitDispatcher = (id: number, error: NativeError | null, outcome: NativeWaitOutcome | null) => void

export interface NativeToken {
  cancel(): void
  isCancelled(): boolean
  child(): NativeToken
  /** Process-wide registry id, usable from any worker thread with `tokenFromShared`. */
  share(): number
}

export interface NativeResource {
  /** 'mmap' or 'mem': which driver is underneath. */
  readonly kind: 'mmap' | 'mem'
  writeAt(offset: number, data: Uint8Array): void
  /** Copies straight into `buf` (any view, SharedArrayBuffer too); returns bytes read. */
  readAt(offset: number, buf: Uint8Array): number
  writeAll(data: Uint8Array): void
  /** Only on resources opened with `atomic: true`; fsyncs before the rename. */
  writeAllDurable(data: Uint8Array): void
  readAll(): Uint8Array
  waitRange(start: number, end: number): NativeWaitOutcome | number
  cancelWait(id: number): boolean
  /** Blocks this thread; `timeoutMs` < 0 means no timeout. */
  waitRangeSync(start: number, end: number, timeoutMs: number): NativeWaitOutcome
  containsRange(start: number, end: number): boolean
  /** `[start, end]` or null. */
  nextGap(from: number, limit: number): [number, number] | null
  /** `finalLen` < 0 means "the end of the highest written byte". */
  commit(finalLen: number): void
  fail(reason: string): void
  reactivate(): void
  interrupt(): void
  status(): NativeStatus
  len(): number | null
  path(): string | null
  flush(): void
  close(): void
  isClosed(): boolean
  /** The same underlying resource behind an `Atomic` decorator. */
  atomic(): NativeResource
  /** Process-wide registry id (weak); `resourceFromShared` in any worker thread. */
  share(): number
  /**
   * Progress events: called on the owning JS thread after writes
   * (`'write', start, end`) and the commit (`'commit', finalLen, 0`).
   * Pass null to stop. Events may be coalesced by the backend.
   */
  setObserver(observer: ((event: 'write' | 'commit', a: number, b: number) => void) | null): void
}

/** A `MemCoverage` of the core: which byte ranges of a download have arrived. */
export interface NativeCoverage {
  mark(start: number, end: number): void
  setTotalSize(total: number): void
  totalSize(): number | null
  /** `[start, end]` or null. */
  nextGap(from: number): [number, number] | null
  isComplete(): boolean
  /** Merged, in order, as `[start, end]` pairs. */
  ranges(): Array<[number, number]>
}

export interface NativeBackend {
  readonly name: 'native' | 'wasm'
  newToken(): NativeToken
  tokenFromShared(id: number): NativeToken
  /** `initialLen` < 0 means default. `atomic` wraps in Atomic; `chunked` opens AtomicChunked. */
  openMmap(
    token: NativeToken,
    path: string,
    initialLen: number,
    mode: NativeOpenMode,
    persistRanges: boolean,
    flavor: 'plain' | 'atomic' | 'chunked',
  ): NativeResource
  openMem(
    token: NativeToken,
    initialData: Uint8Array | null,
    capacity: number,
    flavor: 'plain' | 'atomic',
  ): NativeResource
  resourceFromShared(id: number): NativeResource
  setWaitDispatcher(dispatcher: WaitDispatcher): void
  newCoverage(): NativeCoverage
}
