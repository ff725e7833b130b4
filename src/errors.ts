/**
 * Every error the public API throws, built in one place (in the style of
 * Node's `lib/internal/errors.js`): the `StorageError` class and its codes,
 * `DownloadError` and its codes, Node's `AbortError` shape for aborted
 * waits, the builders of Node's argument errors (`ERR_INVALID_ARG_TYPE`,
 * `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`), the rewrapping of backend
 * errors, and the one helper that makes a stack start at the user's call.
 */
import type { BackendError } from './backend-contract.js'

/**
 * Every code a `StorageError` has: the values of the core's
 * `StorageError::code()` (crates/kithara-storage/src/error.rs). A test keeps
 * this list, the core and the README's table in step.
 */
export const STORAGE_ERROR_CODES = [
  'ERR_STORAGE_CANCELLED',
  'ERR_STORAGE_FAILED',
  'ERR_STORAGE_INVALID_RANGE',
  'ERR_STORAGE_COMMITTED',
  'ERR_STORAGE_READ_ONLY',
  'ERR_STORAGE_IO',
  'ERR_STORAGE_CLOSED',
  'ERR_STORAGE_TIMEOUT',
  'ERR_STORAGE_TMP_CLAIMED',
  'ERR_STORAGE_LOCKED',
  'ERR_STORAGE_UNSUPPORTED',
  'ERR_STORAGE_LENGTH_MISMATCH',
  'ERR_STORAGE_INCOMPLETE',
] as const

/** A stable, machine-readable storage error code. */
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number]

const STORAGE_CODES: ReadonlySet<string> = new Set<string>(STORAGE_ERROR_CODES)

/** Optional details of a {@link StorageError}. */
export interface StorageErrorDetails {
  /** Negative OS error number, as in Node `fs` errors (`ERR_STORAGE_IO`). */
  errno?: number
  /** The system call that failed (`ERR_STORAGE_IO`). */
  syscall?: string
  /** The POSIX name of the OS error, e.g. `'ENOSPC'` (`ERR_STORAGE_IO`). */
  systemCode?: string
  /** The file involved (`ERR_STORAGE_IO`, `ERR_STORAGE_TMP_CLAIMED`, `ERR_STORAGE_LOCKED`). */
  path?: string
  /** Why the resource was failed (`ERR_STORAGE_FAILED`). */
  reason?: string
  /** The original error, when this one wraps another. */
  cause?: unknown
}

/** A storage failure, with a stable `code` (see the README's error table). */
export class StorageError extends Error {
  /** Stable machine-readable code, e.g. `'ERR_STORAGE_CLOSED'`. */
  readonly code: StorageErrorCode
  /** Negative OS error number, when the OS reported one. */
  readonly errno?: number
  /** The system call that failed, for `ERR_STORAGE_IO`. */
  readonly syscall?: string
  /**
   * The POSIX name of the OS error for `ERR_STORAGE_IO` (`'ENOSPC'`,
   * `'EISDIR'`, …): what a Node `fs` error has as its `code`.
   */
  readonly systemCode?: string
  /** The file involved, when there is one. */
  readonly path?: string
  /** The reason given to `fail()`, for `ERR_STORAGE_FAILED`. */
  readonly reason?: string

  constructor(code: StorageErrorCode, message: string, details: StorageErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    if (details.errno !== undefined) this.errno = details.errno
    if (details.syscall !== undefined) this.syscall = details.syscall
    if (details.systemCode !== undefined) this.systemCode = details.systemCode
    if (details.path !== undefined) this.path = details.path
    if (details.reason !== undefined) this.reason = details.reason
  }

  override get name(): string {
    return 'StorageError'
  }
}

// ---------------------------------------------------------------- stacks

/**
 * Where an error's stack should start: the public function the user called
 * (its caller is the first frame), or a stack captured when an asynchronous
 * operation started (a wait decided later).
 */
export type Site = Function | CapturedStack | undefined

/** A stack captured by {@link captureStack}. */
export interface CapturedStack {
  readonly stack?: string
}

// V8 and others: Error.captureStackTrace is not in the ES standard, so it is optional.
const captureStackTrace = (Error as { captureStackTrace?: (target: object, ctor?: unknown) => void }).captureStackTrace

/** The stack above `fn` now, cheaply, for an error made later (see {@link trimStack}). */
export function captureStack(fn: Function): CapturedStack | undefined {
  if (!captureStackTrace) return undefined
  const holder: { stack?: string } = {}
  captureStackTrace(holder, fn)
  return holder
}

/**
 * Makes `err`'s stack start at the caller of `site` (a function), or be the
 * stack captured earlier (a {@link CapturedStack}), so it points at user code
 * rather than at the facade or native glue. Returns `err`.
 */
export function trimStack<E extends Error>(err: E, site: Site): E {
  if (typeof site === 'function') {
    if (captureStackTrace) captureStackTrace(err, site)
  } else if (site?.stack !== undefined) {
    const [head] = String(err.stack).split('\n', 1)
    const frames = site.stack.split('\n').slice(1).join('\n')
    err.stack = frames ? `${head}\n${frames}` : head
  }
  return err
}

// ---------------------------------------------------------------- storage errors

/** A `StorageError` whose stack starts at `site`. */
export function storageError(
  code: StorageErrorCode,
  message: string,
  site: Site,
  details?: StorageErrorDetails,
): StorageError {
  return trimStack(new StorageError(code, message, details), site)
}

/** Whether `e` is an error a backend threw (an Error with a storage code). */
function isBackendError(e: unknown): e is BackendError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    STORAGE_CODES.has((e as { code: string }).code)
  )
}

/**
 * Rewraps a backend error as a `StorageError` whose stack starts at `site`.
 * Anything that is not a backend storage error is returned unchanged.
 */
export function fromBackendError(e: unknown, site: Site): unknown {
  if (e instanceof StorageError || !isBackendError(e)) return e
  let message = String(e.message)
  if (typeof e.path === 'string' && !message.includes(e.path)) message += ` '${e.path}'`
  return storageError(e.code, message, site, {
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    syscall: typeof e.syscall === 'string' ? e.syscall : undefined,
    systemCode: typeof e.systemCode === 'string' ? e.systemCode : undefined,
    path: typeof e.path === 'string' ? e.path : undefined,
    reason: typeof e.reason === 'string' ? e.reason : undefined,
  })
}

// ---------------------------------------------------------------- download errors

/**
 * Every code a `DownloadError` has. A test keeps this list and the README's
 * download error table in step.
 */
export const DOWNLOAD_ERROR_CODES = [
  /** The origin answered with a status or a response that cannot be used (`status` set), after the retries. */
  'ERR_DOWNLOAD_HTTP',
  /** The origin's file is not the one the resource holds bytes of (ETag, Last-Modified or length differ). */
  'ERR_DOWNLOAD_CHANGED',
  /** The connection failed or broke off, after the retries; `cause` holds the last network error. */
  'ERR_DOWNLOAD_NETWORK',
] as const

/** Stable codes of a {@link DownloadError} (see the README's error table). */
export type DownloadErrorCode = (typeof DOWNLOAD_ERROR_CODES)[number]

/** Optional details of a {@link DownloadError}. */
export interface DownloadErrorDetails {
  status?: number
  cause?: unknown
}

/** A download failure caused by the origin or the network, with a stable `code`. */
export class DownloadError extends Error {
  readonly code: DownloadErrorCode
  /** The URL asked for. */
  readonly url: string
  /** The HTTP status of the answer that was refused, when there was one. */
  readonly status?: number

  constructor(code: DownloadErrorCode, url: string, message: string, details: DownloadErrorDetails = {}) {
    super(`${message} (${url})`, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.url = url
    if (details.status !== undefined) this.status = details.status
  }

  override get name(): string {
    return 'DownloadError'
  }
}

// ---------------------------------------------------------------- aborts

/**
 * What an aborted operation rejects with, as Node's `fs/promises` and
 * streams do: an `Error` named `AbortError` with `code: 'ABORT_ERR'`, the
 * message `'The operation was aborted'`, and the signal's reason as `cause`.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR' as const
  // An own property, as on Node's AbortError.
  override readonly name = 'AbortError'

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The `AbortError` for `signal`'s abort, with its reason as `cause`, its stack starting at `site`. */
export function abortError(signal: AbortSignal, site: Site): AbortError {
  return trimStack(new AbortError(undefined, { cause: signal.reason }), site)
}

// ---------------------------------------------------------------- argument errors

/** The code of a Node-style argument error. */
export type ArgumentErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'

function argumentError<E extends TypeError | RangeError>(
  err: E,
  code: ArgumentErrorCode,
  site: Site,
): E & { code: ArgumentErrorCode } {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  return trimStack(err, site) as E & { code: ArgumentErrorCode }
}

/** How Node's error messages describe a received value. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'Received null'
  if (value === undefined) return 'Received undefined'
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor
    if (ctor && typeof ctor.name === 'string' && ctor.name !== '') return `Received an instance of ${ctor.name}`
    return 'Received an object'
  }
  let shown: string
  if (typeof value === 'string') {
    const s = value.length > 28 ? `${value.slice(0, 25)}...` : value
    shown = `'${s}'`
  } else if (typeof value === 'bigint') shown = `${value}n`
  else shown = String(value)
  return `Received type ${typeof value} (${shown})`
}

/** `The "offset" argument` for arguments, `The "opts.path" property` for fields (Node's wording). */
function quotedName(name: string): string {
  return name.includes('.') ? `The "${name}" property` : `The "${name}" argument`
}

/**
 * `TypeError` `ERR_INVALID_ARG_TYPE`: `The "name" argument must be
 * <expected>. Received …`; `expected` reads like `of type number` or
 * `an instance of AbortSignal`.
 */
export function invalidArgType(name: string, expected: string, actual: unknown, site: Site) {
  const message = `${quotedName(name)} must be ${expected}. ${describeReceived(actual)}`
  return argumentError(new TypeError(message), 'ERR_INVALID_ARG_TYPE', site)
}

/**
 * `TypeError` `ERR_INVALID_ARG_VALUE`: `The argument 'name' <reason>.
 * Received …` (strings shown quoted, as Node does).
 */
export function invalidArgValue(name: string, value: unknown, reason: string, site: Site) {
  const kind = name.includes('.') ? 'property' : 'argument'
  const shown = typeof value === 'string' ? `'${value}'` : describeReceived(value).replace(/^Received /, '')
  const message = `The ${kind} '${name}' ${reason}. Received ${shown}`
  return argumentError(new TypeError(message), 'ERR_INVALID_ARG_VALUE', site)
}

/** `RangeError` `ERR_OUT_OF_RANGE`: `The value of "name" is out of range. It must be <range>. Received …`. */
export function outOfRange(name: string, range: string, received: unknown, site: Site) {
  const message = `The value of "${name}" is out of range. It must be ${range}. Received ${String(received)}`
  return argumentError(new RangeError(message), 'ERR_OUT_OF_RANGE', site)
}
