// The source of dist/browser.mjs, the package's `browser` entry (bundled by
// scripts/wasm/build-browser.mjs). The glue stays a separate module so that
// its new URL('kithara_storage_wasm_bg.wasm', import.meta.url) keeps pointing
// at the shipped .wasm, which bundlers such as Vite then emit as an asset.
import init, * as glue from '../pkg-wasm/kithara_storage_wasm.js'
import { installWasmModule } from './backend-wasm-browser.js'

// Importers wait for this (top-level await), so the synchronous API is
// ready by the time their code runs.
await init()
installWasmModule(glue)

export * from './browser.js'
