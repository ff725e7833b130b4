/**
 * Node streams over a resource: a `Readable` that waits for each range as it
 * goes, and a `Writable` that writes sequentially and commits when it
 * finishes. Both are built on the public resource methods (`waitRange`,
 * `readAt`, `writeAt`, `commit`, `fail`), so they work on every backend.
 *
 * `node:stream` is loaded on first use, not at import, so that the facade
 * still loads where there is no `node:stream` (a browser bundle); there the
 * stream methods throw `ERR_STORAGE_UNSUPPORTED`.
 */
import type { Readable, ReadableOptions, Writable, WritableOptions } from 'node:stream'
import { abortError, outOfRange, storageError } from './errors.js'
import type { ResourceBase } from './resource.js'
import {
  validateAbortSignal,
  validateBoolean,
  validateChunkSize,
  validateObject,
  validateOffset,
  validateTimeout,
} from './validate.js'

/** Options of `createReadStream`. */
export interface ReadStreamOptions {
  /** First byte to read; default 0. */
  start?: number
  /**
   * End of the range, exclusive (unlike `fs.createReadStream`); default: read
   * until the resource is committed and its final length is reached.
   */
  end?: number
  /**
   * The most bytes per chunk; default 64 KiB. A chunk is pushed as soon as
   * at least one byte is present: the stream never waits to fill a chunk.
   */
  highWaterMark?: number
  /**
   * Aborting it destroys the stream with an `AbortError` (`code:
   * 'ABORT_ERR'`, the signal's reason as `cause`), as Node's streams do;
   * the resource is left as it was.
   */
  signal?: AbortSignal
  /**
   * The longest the stream waits for its next byte; past it the stream is
   * destroyed with `ERR_STORAGE_TIMEOUT`. Default: no limit.
   */
  timeoutMs?: number
}

/** Options of `createWriteStream`. */
export interface WriteStreamOptions {
  /** Offset of the first byte written; default 0. */
  start?: number
  /**
   * Whether this stream owns the resource's lifecycle; default true: it
   * commits the resource when it finishes (`commit()`: the final length is
   * the end of the highest written byte) and fails it if it is destroyed with
   * an error. Pass false when several streams fill pieces of one resource:
   * such a stream only writes, and an error ends it alone, leaving the
   * resource (and the other pieces) as they were.
   */
  commit?: boolean
  /**
   * Aborting it destroys the stream (and so fails the resource when the
   * stream owns it, `commit: true`).
   */
  signal?: AbortSignal
  /** Bytes buffered before `write()` returns false; default 64 KiB. */
  highWaterMark?: number
}

/** The default chunk size of read streams and buffer size of write streams. */
const DEFAULT_CHUNK = 64 * 1024

type StreamModule = typeof import('node:stream')
let streamModule: StreamModule | undefined

function loadStreamModule(site: Function): StreamModule {
  if (streamModule) return streamModule
  try {
    // Lazy and synchronous (the facade is CommonJS): importing the package
    // must not need node:stream.
    streamModule = require('node:stream') as StreamModule
  } catch (cause) {
    throw storageError('ERR_STORAGE_UNSUPPORTED', 'resource streams need node:stream', site, { cause })
  }
  return streamModule
}

/** Validated, defaulted read-stream options. */
interface ReadPlan {
  start: number
  /** `Number.MAX_SAFE_INTEGER` when unbounded (the committed end stops it). */
  end: number
  chunk: number
  signal: AbortSignal | undefined
  timeoutMs: number | undefined
}

function readPlan(options: unknown): ReadPlan {
  validateObject(options, 'options')
  // Each option read once: the value checked is the value used.
  const { start = 0, end, highWaterMark = DEFAULT_CHUNK, signal, timeoutMs } = options as Record<string, unknown>
  validateOffset(start, 'options.start')
  let last = Number.MAX_SAFE_INTEGER
  if (end !== undefined && end !== null) {
    validateOffset(end, 'options.end')
    if (end < start) throw outOfRange('options.end', `>= ${start} (options.start)`, end, readPlan)
    last = end
  }
  validateChunkSize(highWaterMark, 'options.highWaterMark')
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal')
  if (timeoutMs !== undefined) validateTimeout(timeoutMs, 'options.timeoutMs')
  return { start, end: last, chunk: highWaterMark, signal, timeoutMs }
}

/**
 * A `Readable` of `resource` bytes `[start, end)`: each `_read` waits
 * (`waitRange`, never blocking the loop) for the next byte and pushes what
 * is present from there, up to a chunk, so a slow writer's bytes flow as
 * they arrive, and nothing is read before the consumer asks (backpressure).
 * Ends at `end` or at the committed end (or the expected length); errors
 * with the resource's `StorageError` when it is failed, cancelled or closed,
 * with `ERR_STORAGE_TIMEOUT` after `timeoutMs` without a byte, and with an
 * `AbortError` when `signal` aborts. An `interrupt()` of the resource makes
 * the stream wait again.
 */
export function createReadStream(resource: ResourceBase, options: ReadStreamOptions = {}): Readable {
  const plan = readPlan(options)
  const { Readable } = loadStreamModule(createReadStream)

  /** Withdraws the pending wait when the stream is destroyed. */
  const stop = new AbortController()
  let pos = plan.start
  const userSignal = plan.signal
  let onAbort: (() => void) | undefined

  const readableOptions: ReadableOptions = {
    highWaterMark: plan.chunk,
    read(this: Readable) {
      void readChunk(this)
    },
    destroy(this: Readable, err: Error | null, cb: (error?: Error | null) => void) {
      stop.abort()
      if (onAbort && userSignal) userSignal.removeEventListener('abort', onAbort)
      cb(err)
    },
  }
  const stream = new Readable(readableOptions)

  async function readChunk(s: Readable): Promise<void> {
    try {
      if (pos >= plan.end) {
        s.push(null)
        return
      }
      const wait = { signal: stop.signal, timeoutMs: plan.timeoutMs }
      // One byte is enough to push something.
      let outcome = await resource.waitRange(pos, pos + 1, wait)
      // interrupt() is for waiters that want to re-decide (a seek); a stream
      // simply keeps waiting for the same bytes.
      while (outcome === 'interrupted' && !s.destroyed) {
        outcome = await resource.waitRange(pos, pos + 1, wait)
      }
      if (s.destroyed) return
      if (outcome === 'eof') {
        s.push(null)
        return
      }
      // What is present from `pos`, up to a chunk (all of it once committed).
      let chunkEnd = Math.min(pos + plan.chunk, plan.end)
      const gap = resource.nextGap(pos, chunkEnd)
      if (gap !== null && gap.start > pos) chunkEnd = gap.start
      const buf = Buffer.allocUnsafe(chunkEnd - pos)
      const n = resource.readAt(pos, buf)
      if (n === 0) {
        // A committed resource shorter than the chunk: its end.
        s.push(null)
        return
      }
      pos += n
      s.push(n === buf.length ? buf : buf.subarray(0, n))
    } catch (e) {
      // After destroy the wait is withdrawn on purpose; nothing to report.
      if (!s.destroyed) s.destroy(e as Error)
    }
  }

  if (userSignal) {
    if (userSignal.aborted) {
      process.nextTick(() => stream.destroy(abortError(userSignal, undefined)))
    } else {
      const listener = (): void => {
        stream.destroy(abortError(userSignal, undefined))
      }
      // If the signal refuses the listener, the stream is not made.
      userSignal.addEventListener('abort', listener, { once: true })
      onAbort = listener
    }
  }
  return stream
}

/** Validated, defaulted write-stream options. */
interface WritePlan {
  start: number
  commit: boolean
  signal: AbortSignal | undefined
  highWaterMark: number
}

function writePlan(options: unknown): WritePlan {
  validateObject(options, 'options')
  // Each option read once: the value checked is the value used.
  const { start = 0, commit = true, signal, highWaterMark = DEFAULT_CHUNK } = options as Record<string, unknown>
  validateOffset(start, 'options.start')
  validateBoolean(commit, 'options.commit')
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal')
  validateChunkSize(highWaterMark, 'options.highWaterMark')
  return { start, commit, signal, highWaterMark }
}

/** Why a destroyed write stream failed its resource: the error's message. */
function failureReason(err: unknown): string {
  if (err instanceof Error && err.message) return `write stream destroyed: ${err.message}`
  return `write stream destroyed: ${String(err)}`
}

/**
 * A `Writable` that writes its chunks to `resource` one after another from
 * `start` (each write wakes the readers it satisfies).
 *
 * With `commit: true` (the default) the stream owns the resource's
 * lifecycle: it commits when it finishes, and if it is destroyed with an
 * error before finishing (for example by `stream.pipeline` when the source
 * fails) it fails the resource with that error's message, so readers stop
 * waiting. With `commit: false` it is one piece among many: it only writes,
 * and an error ends this stream alone; the resource, its other writers and
 * the bytes already present are left as they were (the caller retries the
 * piece, or fails the resource itself). Either way, an error the resource
 * itself raised (closed, committed, read-only) is passed on without failing it.
 */
export function createWriteStream(resource: ResourceBase, options: WriteStreamOptions = {}): Writable {
  const plan = writePlan(options)
  const { Writable } = loadStreamModule(createWriteStream)
  let pos = plan.start
  /** Set when the error came from the resource, which must not be failed for it. */
  let resourceError: unknown

  const writeOne = (chunk: Uint8Array): void => {
    try {
      resource.writeAt(pos, chunk)
    } catch (e) {
      resourceError = e
      throw e
    }
    pos += chunk.byteLength
  }

  const writableOptions: WritableOptions = {
    highWaterMark: plan.highWaterMark,
    signal: plan.signal,
    write(chunk: Uint8Array, _encoding, cb) {
      try {
        writeOne(chunk)
        cb()
      } catch (e) {
        cb(e as Error)
      }
    },
    writev(chunks, cb) {
      try {
        for (const { chunk } of chunks) writeOne(chunk as Uint8Array)
        cb()
      } catch (e) {
        cb(e as Error)
      }
    },
    final(cb) {
      if (!plan.commit) {
        cb()
        return
      }
      try {
        resource.commit()
        cb()
      } catch (e) {
        resourceError = e
        cb(e as Error)
      }
    },
    destroy(this: Writable, err, cb) {
      // Only the owner of the lifecycle may fail the resource; a piece stream
      // ends alone. A committed resource is complete: an aborted writer that
      // wrote nothing must not make its bytes unreadable.
      const owner = plan.commit
      if (owner && err && err !== resourceError && !this.writableFinished && resource.status().kind !== 'committed') {
        try {
          resource.fail(failureReason(err))
        } catch {
          // Already closed or failed: nothing left to tell the readers.
        }
      }
      cb(err)
    },
  }
  return new Writable(writableOptions)
}
