/**
 * Errors of the public API: `StorageError` for storage failures, and Node-style
 * `TypeError`/`RangeError` (with `code`) for bad arguments.
 */
import type { NativeError, StorageErrorCode } from './native.js'

export type { StorageErrorCode } from './native.js'

/** Optional details of a {@link StorageError}. */
export interface StorageErrorDetails {
  /** Negative OS error number, as in Node `fs` errors (`ERR_STORAGE_IO`). */
  errno?: number
  /** The system call that failed (`ERR_STORAGE_IO`). */
  syscall?: string
  /** The file involved (`ERR_STORAGE_IO`, `ERR_STORAGE_TMP_CLAIMED`). */
  path?: string
  /** Why the resource was failed (`ERR_STORAGE_FAILED`). */
  reason?: string
  /** The original error, when this one wraps another. */
  cause?: unknown
}

const STORAGE_CODES: ReadonlySet<string> = new Set<StorageErrorCode>([
  'ERR_STORAGE_CANCELLED',
  'ERR_STORAGE_FAILED',
  'ERR_STORAGE_INVALID_RANGE',
  'ERR_STORAGE_COMMITTED',
  'ERR_STORAGE_READ_ONLY',
  'ERR_STORAGE_IO',
  'ERR_STORAGE_CLOSED',
  'ERR_STORAGE_TIMEOUT',
  'ERR_STORAGE_TMP_CLAIMED',
  'ERR_STORAGE_UNSUPPORTED',
])

/** A storage failure, with a stable `code` (see the README's error table). */
export class StorageError extends Error {
  /** Stable machine-readable code, e.g. `'ERR_STORAGE_CLOSED'`. */
  readonly code: StorageErrorCode
  /** Negative OS error number, when the OS reported one. */
  readonly errno?: number
  /** The system call that failed, for `ERR_STORAGE_IO`. */
  readonly syscall?: string
  /** The file involved, when there is one. */
  readonly path?: string
  /** The reason given to `fail()`, for `ERR_STORAGE_FAILED`. */
  readonly reason?: string

  constructor(code: StorageErrorCode, message: string, details: StorageErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    if (details.errno !== undefined) this.errno = details.errno
    if (details.syscall !== undefined) this.syscall = details.syscall
    if (details.path !== undefined) this.path = details.path
    if (details.reason !== undefined) this.reason = details.reason
  }

  override get name(): string {
    return 'StorageError'
  }
}

/** Whether `e` looks like an error a backend threw (an Error with a storage code). */
function isNativeError(e: unknown): e is NativeError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    STORAGE_CODES.has((e as { code: string }).code)
  )
}

type StackHolder = { stack?: string }
// V8 and others: Error.captureStackTrace is not in the ES standard, so it is optional.
const captureStackTrace = (Error as { captureStackTrace?: (target: object, ctor?: unknown) => void }).captureStackTrace

/**
 * Rewraps a backend error as a `StorageError` whose stack starts at the
 * caller of `site` (the public method), so it points at user code rather than
 * at native glue. Anything that is not a storage error is returned unchanged.
 */
export function toStorageError(e: unknown, site: unknown): unknown {
  if (e instanceof StorageError || !isNativeError(e)) return e
  let message = String(e.message)
  if (e.path !== undefined && !message.includes(e.path)) message += ` '${e.path}'`
  const err = new StorageError(e.code, message, {
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    syscall: typeof e.syscall === 'string' ? e.syscall : undefined,
    path: typeof e.path === 'string' ? e.path : undefined,
    reason: typeof e.reason === 'string' ? e.reason : undefined,
  })
  if (captureStackTrace && typeof site === 'function') captureStackTrace(err, site)
  return err
}

/**
 * Like {@link toStorageError} for errors that arrive later (a wait decided by
 * the dispatcher): takes the stack captured when the wait was started.
 */
export function toStorageErrorWithStack(e: unknown, captured: StackHolder | undefined): unknown {
  const err = toStorageError(e, undefined)
  if (err instanceof StorageError && captured?.stack !== undefined) {
    const [head] = String(err.stack).split('\n', 1)
    const frames = captured.stack.split('\n').slice(1).join('\n')
    err.stack = frames ? `${head}\n${frames}` : head
  }
  return err
}

/** Captures the current stack (above `site`) cheaply, for later errors. */
export function captureSite(site: unknown): StackHolder | undefined {
  if (!captureStackTrace) return undefined
  const holder: StackHolder = {}
  captureStackTrace(holder, site)
  return holder
}

/** A Node-style argument error (`TypeError`/`RangeError` with a `code`). */
export type ArgumentErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'

/** Builds a Node-style argument error, with its stack starting above `site`. */
export function argumentError(
  Ctor: TypeErrorConstructor | RangeErrorConstructor,
  code: ArgumentErrorCode,
  message: string,
  site?: unknown,
): TypeError & { code: ArgumentErrorCode } {
  const err = new Ctor(message) as TypeError & { code: ArgumentErrorCode }
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  if (captureStackTrace && typeof site === 'function') captureStackTrace(err, site)
  return err
}
