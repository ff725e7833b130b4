/**
 * Compile-time proof that both backends implement the contract of
 * `backend-contract.ts`, from the typings their generators write (napi-rs:
 * `native-binding.d.ts`; wasm-bindgen: `pkg-wasm/kithara_storage_wasm.d.ts`).
 * `npm run lint` compiles it (after `npm run build`); it is not part of the
 * package. A compile error here means a binding and the facade disagree.
 */
import type * as NativeBinding from '../native-binding.js'
import type * as WasmBinding from '../pkg-wasm/kithara_storage_wasm.js'
import type * as Contract from './backend-contract.js'
import type * as Api from './index.js'

type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Assert<T extends true> = T

export const nativeFits = (m: typeof NativeBinding): Contract.BackendModule => m
export const wasmFits = (m: typeof WasmBinding): Contract.BackendModule => m

// The string unions are the same on both sides, not merely assignable.
export type Unions = [
  Assert<Equal<NativeBinding.OpenMode, Contract.OpenMode>>,
  Assert<Equal<WasmBinding.OpenMode, Contract.OpenMode>>,
  Assert<Equal<NativeBinding.WaitOutcome, Contract.WaitOutcome>>,
  Assert<Equal<WasmBinding.WaitOutcome, Contract.WaitOutcome>>,
  Assert<Equal<NativeBinding.Flavor, Contract.Flavor>>,
  Assert<Equal<WasmBinding.Flavor, Contract.Flavor>>,
  Assert<Equal<NativeBinding.ResourceKind, Contract.ResourceKind>>,
  Assert<Equal<WasmBinding.ResourceKind, Contract.ResourceKind>>,
  Assert<Equal<NativeBinding.StatusKind, Contract.StatusKind>>,
  Assert<Equal<WasmBinding.StatusKind, Contract.StatusKind>>,
  Assert<Equal<NativeBinding.ProgressEvent, Contract.ProgressEvent>>,
  Assert<Equal<WasmBinding.ProgressEvent, Contract.ProgressEvent>>,
  Assert<Equal<Api.OpenMode, Contract.OpenMode>>,
  Assert<Equal<Api.WaitOutcome, Contract.WaitOutcome>>,
  Assert<Equal<Api.ResourceKind, Contract.ResourceKind>>,
  Assert<Equal<Api.ResourceStatus['kind'], Contract.StatusKind>>,
  Assert<Equal<NativeBinding.Recovery, Contract.Recovery>>,
  Assert<Equal<WasmBinding.Recovery, Contract.Recovery>>,
  Assert<Equal<Api.Recovery, Contract.Recovery>>,
  // 'error' is the facade's own: the StorageError of a 'fail'.
  Assert<Equal<Exclude<Api.ResourceEventName, 'error'>, Contract.ProgressEvent>>,
]
