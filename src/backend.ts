/**
 * Backend selection: the napi addon or the WebAssembly build, both behind
 * the `NativeBackend` contract of `native.ts`.
 *
 * `KITHARA_STORAGE_BACKEND=native` forbids the fallback, `=wasm` forces the
 * WebAssembly backend; unset picks native and falls back to wasm when the
 * addon cannot be loaded (no prebuilt binary for this platform).
 * Both are loaded lazily, on first use, so importing the package never fails.
 */
import { StorageError } from './errors.js'
import type { NativeBackend } from './native.js'

/** Which backend the facade may use. */
export type BackendChoice = 'native' | 'wasm' | 'auto'

let forced: BackendChoice | undefined
let loaded: NativeBackend | undefined
const onLoad: Array<(backend: NativeBackend) => void> = []

/** Whether `value` has the shape of a `NativeBackend`. */
function isBackend(value: unknown): value is NativeBackend {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as NativeBackend).newToken === 'function' &&
    typeof (value as NativeBackend).openMem === 'function'
  )
}

/**
 * Takes the backend out of a loaded `backend-*.js` module: an exported
 * backend object (`nativeBackend`, `wasmBackend`, `default`, …), or an
 * exported synchronous `load…()` function that returns one.
 */
function backendFromModule(mod: unknown, file: string): NativeBackend {
  if (isBackend(mod)) return mod
  if (typeof mod === 'object' && mod !== null) {
    const entries = Object.entries(mod as Record<string, unknown>)
    for (const [, v] of entries) if (isBackend(v)) return v
    for (const [name, v] of entries) {
      if (typeof v === 'function' && /^load/i.test(name)) {
        const b = (v as () => unknown)()
        if (isBackend(b)) return b
      }
    }
  }
  throw new StorageError('ERR_STORAGE_UNSUPPORTED', `${file} does not provide a storage backend`)
}

function requireBackend(name: 'native' | 'wasm'): NativeBackend {
  const file = `./backend-${name}.js`
  let mod: unknown
  try {
    // A plain `require` keeps loading synchronous (the API is synchronous)
    // and lazy; the facade is compiled as CommonJS (the ESM entry wraps it).
    // Literal paths so that bundlers can see both files.
    mod = name === 'native' ? require('./backend-native.js') : require('./backend-wasm.js')
  } catch (cause) {
    throw new StorageError(
      'ERR_STORAGE_UNSUPPORTED',
      `the ${name} storage backend is not available: ${String(cause)}`,
      {
        cause,
      },
    )
  }
  return backendFromModule(mod, file)
}

function readEnvChoice(): BackendChoice {
  const env = typeof process === 'object' && process !== null ? process.env?.KITHARA_STORAGE_BACKEND : undefined
  if (env === undefined || env === '' || env === 'auto') return 'auto'
  if (env === 'native' || env === 'wasm') return env
  throw new StorageError(
    'ERR_STORAGE_UNSUPPORTED',
    `KITHARA_STORAGE_BACKEND must be 'native', 'wasm' or unset; got '${env}'`,
  )
}

/**
 * Pins the backend before first use (the browser entry pins 'wasm').
 * Throws once a different backend is already loaded.
 */
export function selectBackend(choice: BackendChoice): void {
  if (loaded && choice !== 'auto' && loaded.name !== choice) {
    throw new StorageError('ERR_STORAGE_UNSUPPORTED', `the ${loaded.name} backend is already in use`)
  }
  forced = choice
}

/** Runs `hook` with the backend once it is loaded (at once if it is). */
export function whenBackendLoaded(hook: (backend: NativeBackend) => void): void {
  if (loaded) hook(loaded)
  else onLoad.push(hook)
}

/** The backend in use, loading it on first call. */
export function backend(): NativeBackend {
  if (loaded) return loaded
  const choice = forced ?? readEnvChoice()
  let b: NativeBackend
  if (choice === 'auto') {
    try {
      b = requireBackend('native')
    } catch (nativeError) {
      try {
        b = requireBackend('wasm')
      } catch {
        throw nativeError
      }
    }
  } else {
    b = requireBackend(choice)
  }
  loaded = b
  for (const hook of onLoad.splice(0)) hook(b)
  return b
}

/** The name of the backend in use ('native' or 'wasm'), loading it if needed. */
export function backendName(): 'native' | 'wasm' {
  return backend().name
}
