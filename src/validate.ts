/**
 * Argument checks done before any backend call, with Node's error codes and
 * message shapes (`The "offset" argument must be ...`).
 */
import { argumentError } from './errors.js'

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

function label(name: string): string {
  // Node: `The "offset" argument` for arguments, `The "opts.path" property` for fields.
  return name.includes('.') ? `The "${name}" property` : `The "${name}" argument`
}

/** Throws unless `value` is an integer in [0, Number.MAX_SAFE_INTEGER]. */
export function validateOffset(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be of type number. ${describeReceived(value)}`,
      validateOffset,
    )
  }
  if (!Number.isInteger(value)) {
    throw argumentError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be an integer. Received ${value}`,
      validateOffset,
    )
  }
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw argumentError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be >= 0 && <= ${Number.MAX_SAFE_INTEGER}. Received ${value}`,
      validateOffset,
    )
  }
}

/** Whether `value` is a Uint8Array (a Buffer is one), from any realm. */
export function isUint8Array(value: unknown): value is Uint8Array {
  return (
    value instanceof Uint8Array ||
    (ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]')
  )
}

/** Throws unless `value` is a Uint8Array. */
export function validateBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!isUint8Array(value)) {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be an instance of Buffer or Uint8Array. ${describeReceived(value)}`,
      validateBytes,
    )
  }
}

/** Throws unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be of type string. ${describeReceived(value)}`,
      validateString,
    )
  }
}

/** Throws unless `value` is a boolean. */
export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be of type boolean. ${describeReceived(value)}`,
      validateBoolean,
    )
  }
}

/** Throws unless `value` is a non-null, non-array object. */
export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be of type object. ${describeReceived(value)}`,
      validateObject,
    )
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
    const shown = typeof value === 'string' ? `'${value}'` : describeReceived(value).replace(/^Received /, '')
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      `${name.includes('.') ? `The property '${name}'` : `The argument '${name}'`} must be one of: ${list}. Received ${shown}`,
      validateOneOf,
    )
  }
}

/** Throws unless `value` is a path string without NUL bytes. */
export function validatePath(value: unknown, name: string): asserts value is string {
  validateString(value, name)
  if (value.includes('\u0000')) {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      `${name.includes('.') ? `The property '${name}'` : `The argument '${name}'`} must be a string without null bytes. Received '${value.split('\u0000').join('\\x00')}'`,
      validatePath,
    )
  }
}

/** Throws unless `value` is a number >= 0 (Infinity allowed: no timeout). */
export function validateTimeout(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be of type number. ${describeReceived(value)}`,
      validateTimeout,
    )
  }
  if (Number.isNaN(value) || value < 0) {
    throw argumentError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be >= 0. Received ${value}`,
      validateTimeout,
    )
  }
}

/** Whether `value` quacks like an AbortSignal (as Node's own check). */
export function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    'aborted' in value &&
    typeof (value as { addEventListener?: unknown }).addEventListener === 'function'
  )
}

/** Throws unless `value` is an AbortSignal. */
export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (!isAbortSignal(value)) {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `${label(name)} must be an instance of AbortSignal. ${describeReceived(value)}`,
      validateAbortSignal,
    )
  }
}
