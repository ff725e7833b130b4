/**
 * The napi-rs backend: the addon `crates/kithara-storage-node`, loaded
 * through the loader napi-rs generates at the package root
 * (`native-binding.js`), which picks this platform's `.node` file (beside
 * it, or the `@kithara/storage-<platform>` package).
 *
 * The facade is compiled to `dist/` and run from `src/` in tests; both sit
 * one level below the package root, so `../native-binding.js` is the loader
 * either way.
 */
import type { Backend, BackendModule } from './backend-contract.js'

/** Loads the addon (synchronously: the storage API is synchronous). */
export function loadNativeBackend(): Backend {
  // backend-contract.check.mts proves the loader's typings fit BackendModule.
  const binding: BackendModule = require('../native-binding.js')
  return { ...binding, name: 'native' }
}
