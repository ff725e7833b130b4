/**
 * The resource classes of the public API. They validate arguments, convert
 * types and delegate to a backend `BackendResource`; they hold no storage logic.
 */
import type { BackendResource, BackendStatus, Flavor, Recovery } from './backend-contract.js'
import { backend } from './backend.js'
import { type Site, captureStack, fromBackendError, invalidArgType, invalidArgValue, storageError } from './errors.js'
import {
  type ResourceEventListener,
  type ResourceEventName,
  addResourceListener,
  expectEvents,
  removeResourceListener,
} from './events.js'
import { type MetadataPatch, type ResourceMetadata, fromRecordMetadata, toRecordChanges } from './metadata.js'
import { type ByteRange, toByteRange, toByteRanges } from './ranges.js'
import { type ReadStreamOptions, type WriteStreamOptions, createReadStream, createWriteStream } from './streams.js'
import { type TokenLike, nativeTokenOf } from './token.js'
import {
  validateAbortSignal,
  validateBoolean,
  validateBytes,
  validateObject,
  validateOffset,
  validateOneOf,
  validatePath,
  validateString,
  validateTimeout,
} from './validate.js'
import { startWait } from './waits.js'

// Node >= 20.4 has Symbol.dispose; elsewhere (older browsers) use the same
// registered symbol Node uses, so `using` from TypeScript finds it.
if (typeof (Symbol as { dispose?: symbol }).dispose !== 'symbol') {
  Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') })
}

/** How an mmap resource opens its file. Strings are accepted too. */
export const OpenMode = {
  /** Existing non-empty file: committed, read-only. Missing or empty: created active. */
  Auto: 'auto',
  /** Existing files open writable (resume a download). */
  ReadWrite: 'readWrite',
  /** Writes fail; a missing file reads as committed and empty. */
  ReadOnly: 'readOnly',
} as const
/** `'auto' | 'readWrite' | 'readOnly'`. */
export type OpenMode = (typeof OpenMode)[keyof typeof OpenMode]

/** How a wait ended. */
export const WaitOutcome = {
  /** The range is written (or committed, clamped to the final length). */
  Ready: 'ready',
  /** The resource is committed and the range starts at or past its end. */
  Eof: 'eof',
  /** `interrupt()` woke the waiter. */
  Interrupted: 'interrupted',
} as const
/** `'ready' | 'eof' | 'interrupted'`. */
export type WaitOutcome = (typeof WaitOutcome)[keyof typeof WaitOutcome]

/** The lifecycle state of a resource. */
export type ResourceStatus =
  | { kind: 'active' }
  | { kind: 'committed'; finalLen: number | null }
  | { kind: 'failed'; reason: string }
  | { kind: 'cancelled' }
  | { kind: 'closed' }

/** Options of a file-backed resource. */
export interface MmapOptions {
  /** The backing file. */
  path: string
  /** Size to create a new file with (default 64 KiB); `null` for the default. */
  initialLen?: number | null
  /** How to open the file; default `'auto'`. */
  mode?: OpenMode
  /** Keep the written ranges in `<path>.ranges` so an interrupted download resumes. */
  persistRanges?: boolean
  /** The length the resource will be committed with, when known ahead (see `setExpectedLen`). */
  expectedLen?: number | null
}

/** Options of an in-memory resource. */
export interface MemOptions {
  /** Contents to start with (the resource is then committed with them). */
  initialData?: Uint8Array | null
  /** Bytes to reserve up front. */
  capacity?: number | null
  /** The length the resource will be committed with, when known ahead (see `setExpectedLen`). */
  expectedLen?: number | null
  /** Never set: a `path` makes the options `MmapOptions`. */
  path?: undefined
}

/** Options of `waitRange`. */
export interface WaitRangeOptions {
  /** Aborting it rejects this wait (only) with `signal.reason`. */
  signal?: AbortSignal
  /** Reject with `ERR_STORAGE_TIMEOUT` after this many milliseconds. */
  timeoutMs?: number
}

/** Options of `waitRangeSync`. */
export interface WaitRangeSyncOptions {
  /** Throw `ERR_STORAGE_TIMEOUT` after this many milliseconds. */
  timeoutMs?: number
}

/** The driver underneath a resource. */
export type ResourceKind = 'mmap' | 'mem'

/** A structured-clone-safe handle to a resource, for another worker thread. */
export interface SharedHandle<K extends ResourceKind = ResourceKind> {
  readonly __kithara: 'resource'
  readonly id: number
  readonly kind: K
}

export type { ByteRange } from './ranges.js'
export type { MetadataPatch, ResourceMetadata } from './metadata.js'
/** Why a file opened with less than it seemed to hold: see `recovery()`. */
export type { Recovery } from './backend-contract.js'

const wrapKey = Symbol('ResourceBase.wrap')

const bufferCtor: { from(ab: ArrayBufferLike, offset: number, length: number): Uint8Array } | undefined = (
  globalThis as { Buffer?: { from(ab: ArrayBufferLike, offset: number, length: number): Uint8Array } }
).Buffer

/** Views native bytes as a Buffer where there is one, without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  if (bufferCtor) return bufferCtor.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Buffer
  return bytes as Buffer
}

/** The public shape of a backend status. */
function toStatus(s: BackendStatus): ResourceStatus {
  switch (s.kind) {
    case 'committed':
      return { kind: 'committed', finalLen: s.finalLen ?? null }
    case 'failed':
      return { kind: 'failed', reason: s.reason ?? '' }
    default:
      return { kind: s.kind }
  }
}

function validateWaitRange(start: unknown, end: unknown): void {
  validateOffset(start, 'start')
  validateOffset(end, 'end')
}

/**
 * Every member every resource has (the DESIGN.md table). Subclasses pick how
 * a resource is opened; extensions (streams, progress) build on `native`.
 */
export abstract class ResourceBase {
  /** The backend resource. @internal */
  protected readonly native: BackendResource

  /** @internal */
  constructor(key: typeof wrapKey, native: BackendResource) {
    if (key !== wrapKey) {
      throw new TypeError('resources are created with open(), from() or fromShared(), not with new')
    }
    this.native = native
  }

  /** Runs a backend call, rewrapping its errors as `StorageError` with the caller's stack. */
  protected call<T>(site: Site, fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      throw fromBackendError(e, site)
    }
  }

  /** The driver underneath: `'mmap'` (a file) or `'mem'` (memory). */
  get kind(): ResourceKind {
    return this.native.kind
  }

  /** Writes `data` at `offset`, growing as needed; wakes the waiters it satisfies. */
  writeAt(offset: number, data: Uint8Array): void {
    validateOffset(offset, 'offset')
    validateBytes(data, 'data')
    this.call(this.writeAt, () => this.native.writeAt(offset, data))
    expectEvents()
  }

  /** Reads into `buf` (any view, SharedArrayBuffer too) from `offset`; returns bytes read. */
  readAt(offset: number, buf: Uint8Array): number {
    validateOffset(offset, 'offset')
    validateBytes(buf, 'buf')
    return this.call(this.readAt, () => this.native.readAt(offset, buf))
  }

  /** `writeAt(0, data)` then `commit(data.length)`. */
  writeAll(data: Uint8Array): void {
    validateBytes(data, 'data')
    this.call(this.writeAll, () => this.native.writeAll(data))
    expectEvents()
  }

  /** The whole committed contents (empty before commit). */
  readAll(): Buffer {
    return asBuffer(this.call(this.readAll, () => this.native.readAll()))
  }

  /**
   * Resolves when `[start, end)` is decided: `'ready'`, `'eof'` or
   * `'interrupted'`; rejects with `StorageError` on fail, cancel or close, or
   * with `signal.reason` when `signal` aborts. Never blocks the event loop.
   */
  waitRange(start: number, end: number, options: WaitRangeOptions = {}): Promise<WaitOutcome> {
    validateWaitRange(start, end)
    validateObject(options, 'options')
    const { signal, timeoutMs } = options
    if (signal !== undefined) validateAbortSignal(signal, 'options.signal')
    if (timeoutMs !== undefined) validateTimeout(timeoutMs, 'options.timeoutMs')
    return startWait(this.native, start, end, signal, timeoutMs, this.waitRange)
  }

  /** Blocks this thread until `[start, end)` is decided (for worker threads). */
  waitRangeSync(start: number, end: number, options: WaitRangeSyncOptions = {}): WaitOutcome {
    validateWaitRange(start, end)
    validateObject(options, 'options')
    const { timeoutMs } = options
    let ms: number | null = null
    if (timeoutMs !== undefined) {
      validateTimeout(timeoutMs, 'options.timeoutMs')
      if (timeoutMs !== Number.POSITIVE_INFINITY) ms = Math.min(Math.ceil(timeoutMs), Number.MAX_SAFE_INTEGER)
    }
    const outcome = this.call(this.waitRangeSync, () => this.native.waitRangeSync(start, end, ms))
    // Nothing comes back when the wait gave up because this thread is being
    // stopped (worker.terminate(), process.exit()): never let code after
    // the wait run as if the range were there.
    if (typeof outcome !== 'string') {
      throw storageError('ERR_STORAGE_CANCELLED', 'waitRangeSync gave up: this thread is stopping', this.waitRangeSync)
    }
    return outcome
  }

  /** Whether every byte of `[start, end)` is written. Never blocks. */
  containsRange(start: number, end: number): boolean {
    validateWaitRange(start, end)
    return this.call(this.containsRange, () => this.native.containsRange(start, end))
  }

  /** The first missing range in `[from, limit)`, or null. */
  nextGap(from: number, limit: number): ByteRange | null {
    validateOffset(from, 'from')
    validateOffset(limit, 'limit')
    return toByteRange(this.call(this.nextGap, () => this.native.nextGap(from, limit)))
  }

  /** Every written range, merged and in order (`[0, finalLen)` once committed). */
  ranges(): ByteRange[] {
    return toByteRanges(this.call(this.ranges, () => this.native.ranges()))
  }

  /** How many bytes are written: the total length of `ranges()`. */
  presentBytes(): number {
    return this.call(this.presentBytes, () => this.native.presentBytes())
  }

  /** Finishes writing; `finalLen` truncates, null/omitted uses the highest written byte. */
  commit(finalLen?: number | null): void {
    let len: number | null = null
    if (finalLen !== undefined && finalLen !== null) {
      validateOffset(finalLen, 'finalLen')
      len = finalLen
    }
    this.call(this.commit, () => this.native.commit(len))
    expectEvents()
  }

  /** Marks the resource failed; waiters reject with `ERR_STORAGE_FAILED`. */
  fail(reason: string): void {
    validateString(reason, 'reason')
    this.call(this.fail, () => this.native.fail(reason))
    expectEvents()
  }

  /** Committed or failed back to active, data kept. */
  reactivate(): void {
    this.call(this.reactivate, () => this.native.reactivate())
  }

  /** Current waiters resolve `'interrupted'` (seek, flush); later waits are unaffected. */
  interrupt(): void {
    this.call(this.interrupt, () => this.native.interrupt())
  }

  /** The lifecycle state (`{ kind: 'closed' }` after `close()`). */
  status(): ResourceStatus {
    return toStatus(this.call(this.status, () => this.native.status()))
  }

  /** The final length once committed, else the expected length (`expectedLen`), else null. */
  len(): number | null {
    return this.call(this.len, () => this.native.len()) ?? null
  }

  /**
   * Sets the length the resource will be committed with, known before the
   * commit (a `Content-Length`), or clears it with null. While set:
   * `len()` answers it; a wait for bytes at or past it resolves `'eof'`, and
   * one across it `'ready'` once the bytes below it are there; `nextGap`
   * stops at it; a write past it throws `ERR_STORAGE_LENGTH_MISMATCH`; and
   * `commit()` commits at it, only when no byte below it is missing
   * (`ERR_STORAGE_INCOMPLETE` otherwise; `commit(n)` with another `n` is
   * `ERR_STORAGE_LENGTH_MISMATCH`). With `persistRanges` it is kept in the
   * range record. Throws `ERR_STORAGE_LENGTH_MISMATCH` if bytes are written
   * past `len`, or the resource is committed at another length.
   */
  setExpectedLen(len: number | null): void {
    let value: number | null = null
    if (len !== null) {
      validateOffset(len, 'len')
      value = len
    }
    this.call(this.setExpectedLen, () => this.native.setExpectedLen(value))
  }

  /** Committed with length 0. */
  isEmpty(): boolean {
    return this.call(this.isEmpty, () => this.native.isEmpty())
  }

  /**
   * Why the resource opened with less than its file seemed to hold:
   * `'none'` (nothing to recover: a new file, a valid range record, no
   * `persistRanges`, or memory); `'missing'` (`persistRanges`, a non-empty
   * file, no record); `'damaged'` (the record is unreadable, truncated or
   * altered); `'mismatch'` (the record belongs to another file). Anything
   * but `'none'` means it opened active with nothing present.
   */
  recovery(): Recovery {
    return this.call(this.recovery, () => this.native.recovery())
  }

  /**
   * What is known about the bytes (the origin's ETag, Last-Modified, URL,
   * and a small object of your own), kept with the range record with
   * `persistRanges` (in memory otherwise). `download()` fills it.
   */
  metadata(): ResourceMetadata {
    return fromRecordMetadata(this.call(this.metadata, () => this.native.metadata()))
  }

  /**
   * Changes the metadata: a field set to a value replaces it, `null`
   * removes it, a field left out stays. With `persistRanges` the next
   * checkpoint records it (`sync()` to wait for that). Throws
   * `ERR_STORAGE_READ_ONLY` in `readOnly` mode.
   */
  setMetadata(patch: MetadataPatch): void {
    const changes = toRecordChanges(patch, this.setMetadata)
    this.call(this.setMetadata, () => this.native.updateMetadata(changes))
  }

  /**
   * Whether this resource follows a writer in another process: a file opened
   * with `persistRanges: true` in `readOnly` mode (or in `auto` while another
   * handle writes it) that another process is writing. A follower is
   * read-only; its ranges, waits, streams and status follow that writer live.
   * Fixed at open.
   */
  isFollower(): boolean {
    return this.call(this.isFollower, () => this.native.isFollower())
  }

  /** The backing file, or null in memory. */
  path(): string | null {
    return this.call(this.path, () => this.native.path()) ?? null
  }

  /** A structured-clone-safe handle; `Resource.fromShared` in any worker thread. */
  share(): SharedHandle {
    const id = this.call(this.share, () => this.native.share())
    return { __kithara: 'resource', id, kind: this.native.kind }
  }

  /** Makes the written bytes durable (msync); with `persistRanges`, also records the written ranges. */
  flush(): void {
    this.call(this.flush, () => this.native.flush())
  }

  /**
   * `flush()` without blocking: the core's checkpoint thread makes the
   * bytes durable (and records the ranges and metadata with
   * `persistRanges`), and the promise settles on this thread's event loop.
   * No thread is parked per call; calls made while one is queued share it.
   * In memory it resolves at once. Rejects with `ERR_STORAGE_CLOSED` after
   * `close()`, `ERR_STORAGE_IO` if the disk refuses.
   */
  sync(): Promise<void> {
    try {
      const pending = this.native.sync()
      const stack = captureStack(this.sync)
      return pending.catch((e: unknown) => {
        throw fromBackendError(e, stack)
      })
    } catch (e) {
      return Promise.reject(fromBackendError(e, this.sync))
    }
  }

  /**
   * Releases the mapping and the file now; pending waits reject with
   * `ERR_STORAGE_CLOSED`. Idempotent. Afterwards `status()` is
   * `{ kind: 'closed' }` and every other member but `isClosed` throws
   * `ERR_STORAGE_CLOSED`.
   */
  close(): void {
    this.call(this.close, () => this.native.close())
    expectEvents()
  }

  /** Whether `close()` was called (on this object or another of the same resource). */
  isClosed(): boolean {
    return this.native.isClosed()
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** A `Readable` of `[start, end)` that waits for each chunk (see streams.ts). */
  createReadStream(options?: ReadStreamOptions): ReturnType<typeof createReadStream> {
    return createReadStream(this, options)
  }

  /** A `Writable` that writes sequentially from `start` and commits on finish (see streams.ts). */
  createWriteStream(options?: WriteStreamOptions): ReturnType<typeof createWriteStream> {
    return createWriteStream(this, options)
  }

  /**
   * Events, on this thread's loop (see events.ts): `'write'` ({ start, end }),
   * `'commit'` ({ finalLen }), `'fail'` ({ reason }), `'close'` (no
   * argument; the last event), and `'error'` (the `StorageError` of a
   * failure, after `'fail'`). Whatever object or thread made the change,
   * every listener of every object of the resource hears it. Works with
   * `events.once(resource, 'commit')` and `events.on(resource, 'write')`.
   */
  on<E extends ResourceEventName>(event: E, listener: ResourceEventListener<E>): this {
    addResourceListener(this.native, event, listener, false, this.on)
    return this
  }

  /** Same as `on`. */
  addListener<E extends ResourceEventName>(event: E, listener: ResourceEventListener<E>): this {
    addResourceListener(this.native, event, listener, false, this.addListener)
    return this
  }

  /** Like `on`, for one event. */
  once<E extends ResourceEventName>(event: E, listener: ResourceEventListener<E>): this {
    addResourceListener(this.native, event, listener, true, this.once)
    return this
  }

  /** Removes a listener added with `on` or `once`. */
  off<E extends ResourceEventName>(event: E, listener: ResourceEventListener<E>): this {
    removeResourceListener(this.native, event, listener)
    return this
  }

  /** Same as `off`. */
  removeListener<E extends ResourceEventName>(event: E, listener: ResourceEventListener<E>): this {
    removeResourceListener(this.native, event, listener)
    return this
  }
}

/** An optional offset option: null when absent, else validated. */
function optionalOffset(value: unknown, name: string): number | null {
  if (value === undefined || value === null) return null
  validateOffset(value, name)
  return value
}

/** Mmap options, each read once and validated as read. */
interface MmapPlan {
  path: string
  initialLen: number | null
  mode: OpenMode
  persistRanges: boolean
  expectedLen: number | null
}

function mmapPlan(opts: unknown): MmapPlan {
  validateObject(opts, 'opts')
  const { path, initialLen, mode = 'auto', persistRanges = false, expectedLen } = opts as Record<string, unknown>
  validatePath(path, 'opts.path')
  const initial = optionalOffset(initialLen, 'opts.initialLen')
  validateOneOf(mode, 'opts.mode', Object.values(OpenMode))
  validateBoolean(persistRanges, 'opts.persistRanges')
  return {
    path,
    initialLen: initial,
    mode,
    persistRanges,
    expectedLen: optionalOffset(expectedLen, 'opts.expectedLen'),
  }
}

/** Memory options, each read once and validated as read. */
interface MemPlan {
  initialData: Uint8Array | null
  capacity: number
  expectedLen: number | null
}

function memPlan(opts: unknown): MemPlan {
  validateObject(opts, 'opts')
  const { initialData, capacity, expectedLen } = opts as Record<string, unknown>
  let data: Uint8Array | null = null
  if (initialData !== undefined && initialData !== null) {
    validateBytes(initialData, 'opts.initialData')
    data = initialData
  }
  return {
    initialData: data,
    capacity: optionalOffset(capacity, 'opts.capacity') ?? 0,
    expectedLen: optionalOffset(expectedLen, 'opts.expectedLen'),
  }
}

/** Sets the expected length of a resource just opened; closes it if that fails. */
function withExpectedLen(native: BackendResource, expectedLen: number | null): BackendResource {
  if (expectedLen !== null) {
    try {
      native.setExpectedLen(expectedLen)
    } catch (e) {
      native.close()
      throw e
    }
  }
  return native
}

function openMmapNative(token: unknown, opts: unknown, flavor: Flavor, site: Site): BackendResource {
  const nativeToken = nativeTokenOf(token, 'token')
  const p = mmapPlan(opts)
  try {
    const native = backend().openMmap(nativeToken, p.path, p.initialLen, p.mode, p.persistRanges, flavor)
    return withExpectedLen(native, p.expectedLen)
  } catch (e) {
    throw fromBackendError(e, site)
  }
}

function openMemNative(token: unknown, opts: unknown, site: Site): BackendResource {
  const nativeToken = nativeTokenOf(token, 'token')
  const p = memPlan(opts === undefined ? {} : opts)
  try {
    return withExpectedLen(backend().openMem(nativeToken, p.initialData, p.capacity, 'plain'), p.expectedLen)
  } catch (e) {
    throw fromBackendError(e, site)
  }
}

function nativeFromShared(handle: unknown, expected: ResourceKind | undefined, site: Site): BackendResource {
  validateObject(handle, 'handle')
  const { __kithara: tag, id, kind } = handle as Record<string, unknown>
  if (tag !== 'resource') {
    throw invalidArgValue('handle', tag, 'is not a shared resource handle', site)
  }
  validateOffset(id, 'handle.id')
  validateOneOf(kind, 'handle.kind', expected ? [expected] : ['mmap', 'mem'])
  try {
    return backend().resourceFromShared(id)
  } catch (e) {
    throw fromBackendError(e, site)
  }
}

/** A file-backed resource (memory-mapped). */
export class MmapResource extends ResourceBase {
  /** Opens (or creates) the file at `opts.path`. A token or an AbortSignal cancels it. */
  static open(token: TokenLike, opts: MmapOptions): MmapResource {
    return new MmapResource(wrapKey, openMmapNative(token, opts, 'plain', MmapResource.open))
  }

  /** The resource behind a `share()` handle of an mmap resource, in this thread. */
  static fromShared(handle: SharedHandle<'mmap'>): MmapResource {
    return new MmapResource(wrapKey, nativeFromShared(handle, 'mmap', MmapResource.fromShared))
  }
}

/** An in-memory resource. */
export class MemResource extends ResourceBase {
  /** A new memory resource, optionally with initial data or reserved capacity. */
  static open(token: TokenLike, opts?: MemOptions): MemResource {
    return new MemResource(wrapKey, openMemNative(token, opts, MemResource.open))
  }

  /** The resource behind a `share()` handle of a memory resource, in this thread. */
  static fromShared(handle: SharedHandle<'mem'>): MemResource {
    return new MemResource(wrapKey, nativeFromShared(handle, 'mem', MemResource.fromShared))
  }
}

/** Opens either kind: `MmapResource` for options with a `path`, else `MemResource`. */
function openResource(token: TokenLike, opts: MmapOptions): MmapResource
function openResource(token: TokenLike, opts?: MemOptions): MemResource
function openResource(token: TokenLike, opts?: MmapOptions | MemOptions): MmapResource | MemResource
function openResource(token: TokenLike, opts?: MmapOptions | MemOptions): MmapResource | MemResource {
  if (opts !== undefined && opts !== null && typeof opts === 'object' && (opts as MmapOptions).path !== undefined) {
    return new MmapResource(wrapKey, openMmapNative(token, opts, 'plain', openResource))
  }
  return new MemResource(wrapKey, openMemNative(token, opts, openResource))
}

/** The resource behind a `share()` handle, in this thread. */
function resourceFromShared(handle: SharedHandle<'mmap'>): MmapResource
function resourceFromShared(handle: SharedHandle<'mem'>): MemResource
function resourceFromShared(handle: SharedHandle): MmapResource | MemResource
function resourceFromShared(handle: SharedHandle): MmapResource | MemResource {
  const native = nativeFromShared(handle, undefined, resourceFromShared)
  return native.kind === 'mmap' ? new MmapResource(wrapKey, native) : new MemResource(wrapKey, native)
}

/** Entry points that pick the resource kind from the options or the handle. */
export const Resource = {
  open: openResource,
  fromShared: resourceFromShared,
} as const
/** Any resource. */
export type Resource = ResourceBase

/** Either kind behind one type, as the Rust `StorageResource` enum. */
export class StorageResource extends ResourceBase {
  /** The same underlying resource as `resource`, seen as a `StorageResource`. */
  static from(resource: ResourceBase): StorageResource {
    if (!(resource instanceof ResourceBase)) {
      throw invalidArgType('resource', 'an instance of MmapResource or MemResource', resource, StorageResource.from)
    }
    return new StorageResource(wrapKey, backendOf(resource))
  }

  /** The resource behind a `share()` handle, as a `StorageResource`. */
  static fromShared(handle: SharedHandle): StorageResource {
    return new StorageResource(wrapKey, nativeFromShared(handle, undefined, StorageResource.fromShared))
  }
}

/**
 * The backend resource of `r` (an accessor of a protected field, for the
 * facade's own modules; not exported from the package).
 * @internal
 */
export function backendOf(r: ResourceBase): BackendResource {
  return (r as unknown as { native: BackendResource }).native
}

/**
 * Whole-file writes that are either entirely old or entirely new: `writeAll`
 * writes a temp file beside the target and renames it over it.
 */
export class Atomic extends ResourceBase {
  /** Wraps `resource` (any resource; in memory it simply delegates). */
  constructor(resource: ResourceBase)
  /** @internal */
  constructor(key: typeof wrapKey, native: BackendResource)
  constructor(resourceOrKey: ResourceBase | typeof wrapKey, native?: BackendResource) {
    if (resourceOrKey === wrapKey && native) {
      super(wrapKey, native)
      return
    }
    if (!(resourceOrKey instanceof ResourceBase)) {
      throw invalidArgType('resource', 'an instance of MmapResource or MemResource', resourceOrKey, Atomic)
    }
    const inner = backendOf(resourceOrKey)
    let wrapped: BackendResource
    try {
      wrapped = inner.atomic()
    } catch (e) {
      throw fromBackendError(e, Atomic)
    }
    super(wrapKey, wrapped)
  }

  /** Same as `new Atomic(resource)`. */
  static from(resource: ResourceBase): Atomic {
    return new Atomic(resource)
  }

  /** Like `writeAll`, and the bytes are on disk (fsync) before the rename. */
  writeAllDurable(data: Uint8Array): void {
    validateBytes(data, 'data')
    this.call(this.writeAllDurable, () => this.native.writeAllDurable(data))
    expectEvents()
  }
}

/**
 * A file written at `<path>.tmp` and renamed onto `path` at commit (after
 * fsync); one live writer at a time (`ERR_STORAGE_TMP_CLAIMED` otherwise).
 */
export class AtomicChunked extends ResourceBase {
  /** Opens the writer for `opts.path` (or the committed file, if it exists). */
  static open(token: TokenLike, opts: MmapOptions): AtomicChunked {
    return new AtomicChunked(wrapKey, openMmapNative(token, opts, 'chunked', AtomicChunked.open))
  }
}
