/**
 * Argument checks done before any backend call, with Node's error codes and
 * message shapes (`The "offset" argument must be ...`); the errors come from
 * the registry in errors.ts. A check's stack starts at the user's call.
 *
 * Callers read each option once into a local, validate that value and pass
 * that value on: a getter that answers differently the second time cannot
 * slip past a check.
 */
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'

/** Throws unless `value` is an integer in [0, Number.MAX_SAFE_INTEGER]. */
export function validateOffset(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value, validateOffset)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value, validateOffset)
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw outOfRange(name, `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, value, validateOffset)
  }
}

/** Throws unless `value` is an offset of at least 1 (a chunk size). */
export function validateChunkSize(value: unknown, name: string): asserts value is number {
  validateOffset(value, name)
  if (value === 0) throw outOfRange(name, '>= 1', value, validateChunkSize)
}

/**
 * `%TypedArray%.prototype[Symbol.toStringTag]`: reads the internal slot that
 * only a real typed array has, so neither a Proxy, an object made with
 * `Object.create(Uint8Array.prototype)` nor a `Symbol.toStringTag` property
 * can fake it.
 */
const typedArrayName = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  Symbol.toStringTag,
)?.get as (this: unknown) => string | undefined

/** Whether `value` is a real Uint8Array (a Buffer is one), from any realm. */
export function isUint8Array(value: unknown): value is Uint8Array {
  return typedArrayName.call(value) === 'Uint8Array'
}

/** Throws unless `value` is a Uint8Array. */
export function validateBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!isUint8Array(value)) {
    throw invalidArgType(name, 'an instance of Buffer or Uint8Array', value, validateBytes)
  }
}

/** Throws unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value, validateString)
}

/** Throws unless `value` is a boolean. */
export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value, validateBoolean)
}

/**
 * Throws unless `value` is a function that can be called. A class is a
 * function that throws when called without `new`: accepted as a listener or
 * callback, it would throw later, from an event delivery, where nothing can
 * catch it and the process dies.
 */
export function validateFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value, validateFunction)
  if (isClass(value))
    throw invalidArgValue(name, value, 'must be a function that can be called, not a class', validateFunction)
}

/** Whether `fn` is a class constructor (its source says so; a function whose source cannot be read is treated as one). */
function isClass(fn: Function): boolean {
  try {
    return /^class\b/.test(Function.prototype.toString.call(fn))
  } catch {
    return true
  }
}

/** Throws unless `value` is a non-null, non-array object. */
export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value, validateObject)
  }
}

/** Throws unless `value` is one of `allowed`. */
export function validateOneOf<T extends string>(
  value: unknown,
  name: string,
  allowed: readonly T[],
): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ')
    throw invalidArgValue(name, value, `must be one of: ${list}`, validateOneOf)
  }
}

/** Throws unless `value` is a path string without NUL bytes. */
export function validatePath(value: unknown, name: string): asserts value is string {
  validateString(value, name)
  if (value.includes('\u0000')) {
    const shown = value.split('\u0000').join('\\x00')
    throw invalidArgValue(name, shown, 'must be a string without null bytes', validatePath)
  }
}

/** Throws unless `value` is a number >= 0 (Infinity allowed: no timeout). */
export function validateTimeout(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value, validateTimeout)
  if (Number.isNaN(value) || value < 0) throw outOfRange(name, '>= 0', value, validateTimeout)
}

/**
 * Whether `value` can be used as an AbortSignal: an object with `aborted`,
 * `addEventListener` and `removeEventListener` (the last is needed to let
 * go of the signal when a wait ends).
 */
export function isAbortSignal(value: unknown): value is AbortSignal {
  if (typeof value !== 'object' || value === null || !('aborted' in value)) return false
  const s = value as { addEventListener?: unknown; removeEventListener?: unknown }
  return typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function'
}

/** Throws unless `value` is an AbortSignal. */
export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (!isAbortSignal(value)) throw invalidArgType(name, 'an instance of AbortSignal', value, validateAbortSignal)
}
