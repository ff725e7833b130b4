/**
 * The WebAssembly backend for Node: the fallback where no prebuilt addon
 * fits, or forced with `KITHARA_STORAGE_BACKEND=wasm`.
 *
 * Loads `pkg-wasm/kithara_storage_wasm.node.cjs` (wasm-bindgen's Node glue,
 * built by `npm run build:wasm`), which compiles the module synchronously
 * from the `.wasm` beside it. `src/` and `dist/` both sit one level below
 * the package root, so the relative path holds for tests and the package.
 * The browser build replaces this file with `backend-wasm-browser.ts`.
 */
import type { Backend, BackendModule } from './backend-contract.js'

/** Loads the module (synchronously: the storage API is synchronous). */
export function loadWasmBackend(): Backend {
  // backend-contract.check.mts proves the glue's typings fit BackendModule.
  const glue: BackendModule = require('../pkg-wasm/kithara_storage_wasm.node.cjs')
  return { ...glue, name: 'wasm' }
}
