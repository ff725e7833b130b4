/**
 * The napi-rs backend: the addon `crates/kithara-storage-node`, loaded
 * through the loader napi-rs generates at the package root (`index.js`),
 * which picks this platform's `.node` file (beside it, or the
 * `@kithara/storage-<platform>` package).
 *
 * The facade is compiled to `dist/` and run from `src/` in tests; both sit
 * one level below the package root, so `../index.js` is the loader either way.
 */
import type * as Binding from '../index.js'
import type { NativeBackend, NativeCoverage, NativeResource, NativeToken, WaitDispatcher } from './native.js'

// Synchronous on purpose: the storage API is synchronous, and backend.ts
// loads this module lazily, on first use.
const binding = require('../index.js') as typeof Binding

/** Our tokens are the addon's tokens; the facade only ever hands them back. */
function nativeToken(token: NativeToken): Binding.NativeToken {
  return token as Binding.NativeToken
}

/** The addon's exports, shaped as the `NativeBackend` contract. */
export const nativeBackend: NativeBackend = {
  name: 'native',
  newToken: (): NativeToken => binding.newToken(),
  tokenFromShared: (id: number): NativeToken => binding.tokenFromShared(id),
  openMmap: (token, path, initialLen, mode, persistRanges, flavor): NativeResource =>
    binding.openMmap(nativeToken(token), path, initialLen, mode, persistRanges, flavor) as NativeResource,
  openMem: (token, initialData, capacity, flavor): NativeResource =>
    binding.openMem(nativeToken(token), initialData, capacity, flavor) as NativeResource,
  resourceFromShared: (id: number): NativeResource => binding.resourceFromShared(id) as NativeResource,
  setWaitDispatcher: (dispatcher: WaitDispatcher): void =>
    binding.setWaitDispatcher(dispatcher as Parameters<typeof binding.setWaitDispatcher>[0]),
  newCoverage: (): NativeCoverage => binding.newCoverage() as NativeCoverage,
}

export default nativeBackend
