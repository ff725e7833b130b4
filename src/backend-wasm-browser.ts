/**
 * The WebAssembly backend in browsers. The browser entry (`dist/browser.mjs`,
 * bundled by `scripts/wasm/build-browser.mjs`) fetches and instantiates the
 * module (top-level await), then hands the glue over with `installWasmGlue`
 * before any user code runs; `backend.ts` then loads this file in place of
 * the Node loader `backend-wasm.ts`. No Node built-ins here.
 */
import { createWasmBackend, type WasmBackend, type WasmGlue } from './backend-wasm-core.js'

let installed: WasmBackend | undefined

/** Makes the initialized glue module the backend. Later calls are ignored. */
export function installWasmGlue(glue: WasmGlue): void {
  installed ??= createWasmBackend(glue)
}

/** The backend, once the entry has installed the glue. */
export function loadWasmBackend(): WasmBackend {
  if (!installed) {
    throw Object.assign(new Error('unsupported: the WebAssembly module is not initialized; import the package entry'), {
      code: 'ERR_STORAGE_UNSUPPORTED' as const,
    })
  }
  return installed
}
