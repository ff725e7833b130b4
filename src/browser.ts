/**
 * The browser entry: the same API on the WebAssembly backend
 * (`MmapResource`/`AtomicChunked` there throw `ERR_STORAGE_UNSUPPORTED`).
 */
import { selectBackend } from './backend.js'

selectBackend('wasm')

export * from './index.js'
