/** `CancellationToken`: cancels every resource opened with it (and its children). */
import type { BackendToken } from './backend-contract.js'
import { backend } from './backend.js'
import { fromBackendError, invalidArgType, invalidArgValue } from './errors.js'
import { isAbortSignal, validateAbortSignal, validateObject, validateOffset } from './validate.js'

/** A structured-clone-safe handle to a token, for another worker thread. */
export interface SharedTokenHandle {
  readonly __kithara: 'token'
  readonly id: number
}

const fromNativeKey = Symbol('CancellationToken.fromNative')
const bySignal = new WeakMap<AbortSignal, CancellationToken>()

/**
 * A cancellation token, as in the Rust core (tokio-util's): `cancel()` cancels
 * it and all its children; resources opened with it then fail with
 * `ERR_STORAGE_CANCELLED`.
 */
export class CancellationToken {
  /** @internal */
  readonly native: BackendToken

  /** A new, uncancelled token. */
  constructor()
  /** @internal */
  constructor(key: typeof fromNativeKey, native: BackendToken)
  constructor(key?: typeof fromNativeKey, native?: BackendToken) {
    if (key === fromNativeKey && native) {
      this.native = native
    } else {
      const b = backend()
      try {
        this.native = b.newToken()
      } catch (e) {
        throw fromBackendError(e, CancellationToken)
      }
    }
  }

  /** Cancels this token and its children. Idempotent. */
  cancel(): void {
    this.native.cancel()
  }

  /** Whether this token (or a parent) was cancelled. */
  get isCancelled(): boolean {
    return this.native.isCancelled()
  }

  /** A token cancelled with this one, that can also be cancelled alone. */
  child(): CancellationToken {
    return new CancellationToken(fromNativeKey, this.native.child())
  }

  /** A structured-clone-safe handle; `CancellationToken.fromShared` in any worker thread. */
  share(): SharedTokenHandle {
    try {
      return { __kithara: 'token', id: this.native.share() }
    } catch (e) {
      throw fromBackendError(e, this.share)
    }
  }

  /** The token behind a handle from `share()`, in this thread. */
  static fromShared(handle: SharedTokenHandle): CancellationToken {
    validateObject(handle, 'handle')
    const { __kithara: tag, id } = handle as Record<string, unknown>
    if (tag !== 'token') {
      throw invalidArgValue('handle', tag, 'is not a shared token handle', CancellationToken.fromShared)
    }
    validateOffset(id, 'handle.id')
    try {
      return new CancellationToken(fromNativeKey, backend().tokenFromShared(id))
    } catch (e) {
      throw fromBackendError(e, CancellationToken.fromShared)
    }
  }

  /**
   * A token cancelled when `signal` aborts (at once if it already has).
   * The same signal always gives the same token.
   */
  static fromSignal(signal: AbortSignal): CancellationToken {
    validateAbortSignal(signal, 'signal')
    const known = bySignal.get(signal)
    if (known) return known
    const token = new CancellationToken()
    bySignal.set(signal, token)
    if (signal.aborted) token.cancel()
    else signal.addEventListener('abort', () => token.cancel(), { once: true })
    return token
  }
}

/** What the API accepts wherever a token is expected. */
export type TokenLike = CancellationToken | AbortSignal

/** The backend token behind a `TokenLike`, or a TypeError naming `name`. */
export function nativeTokenOf(value: unknown, name: string): BackendToken {
  if (value instanceof CancellationToken) return value.native
  if (isAbortSignal(value)) return CancellationToken.fromSignal(value).native
  throw invalidArgType(name, 'an instance of CancellationToken or AbortSignal', value, nativeTokenOf)
}
