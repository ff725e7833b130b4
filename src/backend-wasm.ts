/**
 * The WebAssembly backend for Node: the fallback where no prebuilt addon
 * fits, or forced with `KITHARA_STORAGE_BACKEND=wasm`.
 *
 * Loads `pkg-wasm/kithara_storage_wasm.node.cjs` (wasm-bindgen's Node glue,
 * built by `npm run build:wasm`), which compiles the module synchronously
 * from the `.wasm` beside it. `src/` and `dist/` both sit one level below
 * the package root, so the relative path holds for tests and the package.
 */
import { createWasmBackend, type WasmBackend, type WasmGlue } from './backend-wasm-core.js'

// Synchronous on purpose: the storage API is synchronous, and backend.ts
// loads this module lazily, on first use.
const glue = require('../pkg-wasm/kithara_storage_wasm.node.cjs') as WasmGlue

/** The WebAssembly build of the core, shaped as the `NativeBackend` contract. */
export const wasmBackend: WasmBackend = createWasmBackend(glue)

export default wasmBackend
