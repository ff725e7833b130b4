/**
 * The WebAssembly backend in browsers, in place of `backend-wasm.ts`. The
 * browser entry (`browser-entry.mts`, bundled into `dist/browser.mjs`)
 * fetches and instantiates the module (top-level await), then hands the
 * glue over with `installWasmModule` before any user code runs. No Node
 * built-ins here.
 */
import type { Backend, BackendModule } from './backend-contract.js'
import { storageError } from './errors.js'

let installed: Backend | undefined

/** Makes the initialized glue module the backend. Later calls are ignored. */
export function installWasmModule(glue: BackendModule): void {
  installed ??= { ...glue, name: 'wasm' }
}

/** The backend, once the entry has installed the module. */
export function loadWasmBackend(): Backend {
  if (!installed) {
    throw storageError(
      'ERR_STORAGE_UNSUPPORTED',
      'unsupported: the WebAssembly module is not initialized; import the package entry',
      loadWasmBackend,
    )
  }
  return installed
}
