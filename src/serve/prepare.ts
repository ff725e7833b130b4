/**
 * Decides the response to a GET or HEAD for a resource: status, headers and
 * which bytes the body carries. Shared by `serveRange` (node:http) and
 * `respondRange` (fetch); neither knows HTTP semantics beyond this module.
 *
 * The length of the representation is the committed length, else
 * `options.size`, else the resource's expected length (which a running
 * `download()` sets from the origin's first answer). While none is known: a
 * request for the whole body (no `Range`, or `bytes=0-`) gets a 200 streamed
 * until the commit (chunked, no `Content-Length`); any other range waits
 * for the length, since it cannot be answered without it.
 *
 * ETag, Last-Modified and Content-Type default to the resource's metadata
 * (what `download()` learned from the origin, kept in the range record), so
 * a restarted proxy answers with the same validators.
 */
import type { Download, OriginInfo } from '../download/download.js'
import type { ResourceMetadata } from '../metadata.js'
import { type ResourceBase, backendOf } from '../resource.js'
import { validateAbortSignal, validateObject, validateOffset, validateString } from '../validate.js'
import { type DemandHook, demandHookOf } from '../waits.js'
import type { BodyPlan, DemandFn } from './body.js'
import { needsLength, parseRangeHeader, resolveRanges } from './range.js'
import {
  type EntityTag,
  formatEtag,
  ifRangeMatches,
  noneMatchHits,
  notModifiedSince,
  parseHttpDate,
} from './validators.js'

/** Options of `serveRange` and `respondRange`. */
export interface ServeOptions {
  /**
   * The representation's entity tag: `'"v1"'`, `'W/"v1"'`, or a bare `'v1'`
   * (quoted for you). Sent as `ETag`; `If-Range` matches it strongly,
   * `If-None-Match` weakly. Default: the resource's metadata (`etag`, which
   * `download()` sets from the origin).
   */
  etag?: string
  /** Sent as `Last-Modified`; `If-Range`/`If-Modified-Since` compare to it. Default: the resource's metadata. */
  lastModified?: Date | number | string
  /** `Content-Type`; default the resource's metadata, else `application/octet-stream`. */
  contentType?: string
  /** The total length when it is known before the resource is committed (default: its expected length). */
  size?: number
  /**
   * The download filling the resource: the response waits for its first
   * answer (which tells the length and validators), and the bytes it waits
   * for are fetched first (`demand`). Default: the `download()` running on
   * this resource now; `null` for none.
   */
  download?: Download | null
  /** Extra headers on every answer (e.g. `Cache-Control`). */
  headers?: Record<string, string>
  /** More ranges than this in one request and the `Range` header is ignored (200); default 64. */
  maxRanges?: number
  /** Aborting it stops the response (e.g. on server shutdown). */
  signal?: AbortSignal
}

/** What to send. */
export interface PreparedResponse {
  status: number
  headers: Record<string, string>
  /** Null: no body (HEAD, 304, 416, errors). */
  body: BodyPlan | null
  /** Present when the body may wait for bytes a download is fetching. */
  demand: DemandFn | null
}

/** The request as far as this module cares. */
export interface RequestFacts {
  method: string
  header(name: string): string | null
}

const DEFAULT_MAX_RANGES = 64

interface Validated {
  etag: EntityTag | null
  lastModified: Date | null
  contentType: string | null
  size: number | null
  download: Download | null | undefined
  headers: Record<string, string>
  maxRanges: number
  signal: AbortSignal | undefined
}

/** Validates options as Node validates arguments (TypeError/RangeError with a code). */
export function validateServeOptions(options: unknown): Validated {
  validateObject(options, 'options')
  // Each option read once: the value checked is the value used.
  const {
    etag: etagOption,
    lastModified: lastModifiedOption,
    contentType,
    size,
    download,
    headers,
    maxRanges = DEFAULT_MAX_RANGES,
    signal,
  } = options as Record<string, unknown>
  let etag: EntityTag | null = null
  if (etagOption !== undefined) {
    validateString(etagOption, 'options.etag')
    etag = formatEtag(etagOption)
  }
  let lastModified: Date | null = null
  if (lastModifiedOption !== undefined) lastModified = toDate(lastModifiedOption)
  if (contentType !== undefined) validateString(contentType, 'options.contentType')
  if (size !== undefined) validateOffset(size, 'options.size')
  if (headers !== undefined) validateObject(headers, 'options.headers')
  validateOffset(maxRanges, 'options.maxRanges')
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal')
  return {
    etag,
    lastModified,
    contentType: contentType ?? null,
    size: size ?? null,
    download: download as Download | null | undefined,
    headers: (headers ?? {}) as Record<string, string>,
    maxRanges: Math.max(1, maxRanges),
    signal,
  }
}

function toDate(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value
  if (typeof value === 'number') {
    validateOffset(Math.floor(value), 'options.lastModified')
    return new Date(value)
  }
  validateString(value, 'options.lastModified')
  return parseHttpDate(value)
}

/** A response without a body. */
function bare(status: number, headers: Record<string, string> = {}): PreparedResponse {
  return { status, headers: { ...headers, 'Content-Length': '0' }, body: null, demand: null }
}

/**
 * Waits (no polling) until the resource's length is known (its expected
 * length is set, or it is committed); returns it.
 */
async function knownLength(resource: ResourceBase, signal: AbortSignal): Promise<number> {
  for (;;) {
    let outcome: string
    try {
      // A range past any possible end resolves 'eof' exactly when a length is known.
      outcome = await resource.waitRange(Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER, { signal })
    } catch (e) {
      // The wait's AbortError: the caller is told the reason, as fetch does.
      if (signal.aborted) throw signal.reason
      throw e
    }
    if (outcome === 'eof') {
      const len = resource.len()
      if (len !== null) return len
    }
  }
}

/** What fills `resource`: the download given, else the demand hook of the one running on it. */
function fillerOf(resource: ResourceBase, download: Download | null | undefined): DemandHook | null {
  if (download === null) return null
  if (download !== undefined) return { demand: download.demand, ready: download.origin }
  return demandHookOf(backendOf(resource))
}

/**
 * Decides the response. Rejects only with `signal`'s reason (the client went
 * away while it waited for the length); storage and origin failures become
 * 5xx answers.
 */
export async function prepareResponse(
  resource: ResourceBase,
  request: RequestFacts,
  opts: Validated,
  signal: AbortSignal,
): Promise<PreparedResponse> {
  const method = request.method.toUpperCase()
  if (method !== 'GET' && method !== 'HEAD') return bare(405, { Allow: 'GET, HEAD' })
  const hook = fillerOf(resource, opts.download)

  let length: number | null
  let meta: ResourceMetadata
  // What the filler learned from the origin, for what the resource does not say.
  let origin: Partial<OriginInfo> = {}
  try {
    let status = resource.status()
    // Failed, cancelled (or closed): nothing more will arrive.
    if (status.kind !== 'active' && status.kind !== 'committed') return bare(503)
    if (hook && status.kind === 'active') {
      try {
        origin = ((await abortable(hook.ready, signal)) ?? {}) as Partial<OriginInfo>
      } catch (e) {
        if (signal.aborted) throw e
        // The download could not even reach its origin.
        return bare(502)
      }
      status = resource.status()
    }
    length = status.kind === 'committed' ? resource.len() : (opts.size ?? resource.len() ?? origin.size ?? null)
    meta = resource.metadata()
  } catch (e) {
    if (signal.aborted) throw e
    return bare(500)
  }

  const originEtag = meta.etag ?? origin.etag
  const etag = opts.etag ?? (originEtag ? formatEtag(originEtag) : null)
  const lastModified = opts.lastModified ?? parseHttpDate(meta.lastModified ?? origin.lastModified)
  const contentType = opts.contentType ?? meta.contentType ?? origin.contentType ?? 'application/octet-stream'
  const common: Record<string, string> = { 'Accept-Ranges': 'bytes' }
  if (etag !== null) common.ETag = etag
  if (lastModified !== null) common['Last-Modified'] = lastModified.toUTCString()
  Object.assign(common, opts.headers)

  // Conditional GET (§13.2.2): If-None-Match wins over If-Modified-Since.
  const inm = request.header('if-none-match')
  const ims = request.header('if-modified-since')
  if (inm !== null ? noneMatchHits(inm, etag) : ims !== null && notModifiedSince(ims, lastModified)) {
    return { status: 304, headers: common, body: null, demand: null }
  }

  let specs = parseRangeHeader(request.header('range'), opts.maxRanges)
  const ifRange = request.header('if-range')
  if (specs !== null && ifRange !== null && !ifRangeMatches(ifRange, etag, lastModified)) specs = null

  if (length === null && needsLength(specs)) {
    try {
      length = await knownLength(resource, signal)
    } catch (e) {
      if (signal.aborted) throw e
      return bare(503)
    }
  }
  const demand: DemandFn | null = hook ? hook.demand : null
  const isHead = method === 'HEAD'

  if (length === null) {
    // Whole body of unknown length: streamed until the commit.
    const headers = { ...common, 'Content-Type': contentType }
    return {
      status: 200,
      headers,
      body: isHead ? null : { parts: [{ head: null, start: 0, end: Number.POSITIVE_INFINITY }], tail: null },
      demand,
    }
  }

  const wanted = resolveRanges(specs, length)
  if (wanted.kind === 'unsatisfiable') {
    return bare(416, { ...common, 'Content-Range': `bytes */${length}` })
  }
  if (wanted.kind === 'whole') {
    const headers = { ...common, 'Content-Type': contentType, 'Content-Length': String(length) }
    return {
      status: 200,
      headers,
      body: isHead || length === 0 ? null : { parts: [{ head: null, start: 0, end: length }], tail: null },
      demand,
    }
  }
  const { ranges } = wanted
  if (ranges.length === 1) {
    const [{ start, end }] = ranges
    const headers = {
      ...common,
      'Content-Type': contentType,
      'Content-Range': `bytes ${start}-${end - 1}/${length}`,
      'Content-Length': String(end - start),
    }
    return { status: 206, headers, body: isHead ? null : { parts: [{ head: null, start, end }], tail: null }, demand }
  }
  // multipart/byteranges (§14.6): each part with its own Content-Type and Content-Range.
  const boundary = newBoundary()
  const encoder = new TextEncoder()
  let total = 0
  const parts = ranges.map(({ start, end }) => {
    const head = encoder.encode(
      `\r\n--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${start}-${end - 1}/${length}\r\n\r\n`,
    )
    total += head.length + (end - start)
    return { head, start, end }
  })
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`)
  total += tail.length
  const headers = {
    ...common,
    'Content-Type': `multipart/byteranges; boundary=${boundary}`,
    'Content-Length': String(total),
  }
  return { status: 206, headers, body: isHead ? null : { parts, tail }, demand }
}

/** A boundary no byte sequence of the body is likely to contain. */
function newBoundary(): string {
  const bytes = new Uint8Array(12)
  globalThis.crypto.getRandomValues(bytes)
  let hex = ''
  for (const b of bytes) hex += b.toString(16).padStart(2, '0')
  return `kithara-${hex}`
}

/** `promise`, or a rejection with `signal.reason` as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
