/**
 * The ES module entry. It re-exports the CommonJS build rather than being a
 * second copy of it, so `import` and `require` in one process share one
 * facade: one wait dispatcher per thread, one `StorageError` class.
 */
export {
  Atomic,
  AtomicChunked,
  backendName,
  CancellationToken,
  MemCoverage,
  MemResource,
  MmapResource,
  OpenMode,
  Resource,
  ResourceBase,
  StorageError,
  StorageResource,
  WaitOutcome,
} from './index.js'
export type {
  ByteRange,
  CommitEvent,
  ReadStreamOptions,
  ResourceEventListener,
  ResourceEventMap,
  ResourceEventName,
  WriteEvent,
  WriteStreamOptions,
  MemOptions,
  MmapOptions,
  ResourceKind,
  ResourceStatus,
  SharedHandle,
  SharedTokenHandle,
  StorageErrorCode,
  StorageErrorDetails,
  TokenLike,
  WaitRangeOptions,
  WaitRangeSyncOptions,
} from './index.js'
