/**
 * `@kithara/storage`: random-access storage resources for progressive
 * downloads. A writer fills a file (mmap) or memory at any offset; readers
 * wait for exactly the byte ranges they need.
 */
export { backendName } from './backend.js'
export { MemCoverage } from './coverage.js'
export { AbortError, DownloadError, StorageError } from './errors.js'
export type { DownloadErrorCode, DownloadErrorDetails, StorageErrorCode, StorageErrorDetails } from './errors.js'
export {
  Atomic,
  AtomicChunked,
  MemResource,
  MmapResource,
  OpenMode,
  Resource,
  ResourceBase,
  StorageResource,
  WaitOutcome,
} from './resource.js'
export type {
  ByteRange,
  MemOptions,
  MetadataPatch,
  MmapOptions,
  Recovery,
  ResourceMetadata,
  ResourceKind,
  ResourceStatus,
  SharedHandle,
  WaitRangeOptions,
  WaitRangeSyncOptions,
} from './resource.js'
export { CancellationToken } from './token.js'
export type {
  CommitEvent,
  FailEvent,
  ResourceEventListener,
  ResourceEventMap,
  ResourceEventName,
  WriteEvent,
} from './events.js'
export type { ReadStreamOptions, WriteStreamOptions } from './streams.js'
export type { SharedTokenHandle, TokenLike } from './token.js'
export { download } from './download/download.js'
export type { Download, DownloadOptions, DownloadProgress, DownloadResult, OriginInfo } from './download/download.js'
export { respondRange } from './serve/fetch.js'
export { serveRange } from './serve/http.js'
export type { ServeResult } from './serve/http.js'
export type { ServeOptions } from './serve/prepare.js'
