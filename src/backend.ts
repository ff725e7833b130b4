/**
 * Backend selection: the napi addon or the WebAssembly build, both behind
 * the contract of `backend-contract.ts`.
 *
 * `KITHARA_STORAGE_BACKEND=native` forbids the fallback, `=wasm` forces the
 * WebAssembly backend; unset picks native and falls back to wasm when the
 * addon cannot be loaded (no prebuilt binary for this platform).
 * Both are loaded lazily, on first use, so importing the package never fails.
 */
import type { Backend } from './backend-contract.js'
import { storageError } from './errors.js'

/** Which backend the facade may use. */
export type BackendChoice = 'native' | 'wasm' | 'auto'

let forced: BackendChoice | undefined
let loaded: Backend | undefined
const onLoad: Array<(backend: Backend) => void> = []

/**
 * Each backend's loader. A plain `require` keeps loading synchronous (the
 * API is synchronous) and lazy; the facade is compiled as CommonJS (the ESM
 * entry wraps it). Literal paths, so that bundlers can see both files.
 */
const loaders: Record<'native' | 'wasm', () => Backend> = {
  native: () => (require('./backend-native.js') as typeof import('./backend-native.js')).loadNativeBackend(),
  wasm: () => (require('./backend-wasm.js') as typeof import('./backend-wasm.js')).loadWasmBackend(),
}

function load(name: 'native' | 'wasm'): Backend {
  try {
    return loaders[name]()
  } catch (cause) {
    throw storageError(
      'ERR_STORAGE_UNSUPPORTED',
      `the ${name} storage backend is not available: ${String(cause)}`,
      load,
      {
        cause,
      },
    )
  }
}

function readEnvChoice(): BackendChoice {
  const env = typeof process === 'object' && process !== null ? process.env?.KITHARA_STORAGE_BACKEND : undefined
  if (env === undefined || env === '' || env === 'auto') return 'auto'
  if (env === 'native' || env === 'wasm') return env
  throw storageError(
    'ERR_STORAGE_UNSUPPORTED',
    `KITHARA_STORAGE_BACKEND must be 'native', 'wasm' or unset; got '${env}'`,
    readEnvChoice,
  )
}

/**
 * Pins the backend before first use (the browser entry pins 'wasm').
 * Throws once a different backend is already loaded.
 */
export function selectBackend(choice: BackendChoice): void {
  if (loaded && choice !== 'auto' && loaded.name !== choice) {
    throw storageError('ERR_STORAGE_UNSUPPORTED', `the ${loaded.name} backend is already in use`, selectBackend)
  }
  forced = choice
}

/** Runs `hook` with the backend once it is loaded (at once if it is). */
export function whenBackendLoaded(hook: (backend: Backend) => void): void {
  if (loaded) hook(loaded)
  else onLoad.push(hook)
}

/** The backend in use, loading it on first call. */
export function backend(): Backend {
  if (loaded) return loaded
  const choice = forced ?? readEnvChoice()
  let b: Backend
  if (choice === 'auto') {
    try {
      b = load('native')
    } catch (nativeError) {
      try {
        b = load('wasm')
      } catch {
        throw nativeError
      }
    }
  } else {
    b = load(choice)
  }
  loaded = b
  for (const hook of onLoad.splice(0)) hook(b)
  return b
}

/** The name of the backend in use ('native' or 'wasm'), loading it if needed. */
export function backendName(): 'native' | 'wasm' {
  return backend().name
}
