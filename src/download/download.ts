/**
 * `download()`: fills a resource from a URL over Node's own `fetch`
 * (undici), with parallel Range requests, resume, retries, origin-change
 * detection and demand priority. See the README section "Serving and
 * downloading" for the user-facing contract.
 *
 * How it runs:
 * 1. A committed resource is complete: no request at all.
 * 2. The first request asks for one piece at the first missing byte (a
 *    demanded one if a demand came in synchronously), with `If-Range` when
 *    the resource holds bytes and a validator for them is known (the
 *    caller's `validator`, else the ETag or Last-Modified an earlier run
 *    kept in the resource's metadata). Its answer tells the length (set as
 *    the resource's expected length), the validators (kept in the metadata
 *    with the URL and type) and whether the origin does ranges.
 * 3. With ranges and a known length, `connections` lanes each take the next
 *    free range from the `Scheduler` (demands first) until nothing is
 *    missing, then the resource is committed with that length.
 *    Without ranges (a 200), one sequential stream from byte 0 fills it; with
 *    ranges but no total length (`bytes a-b/*`), one open-ended stream does.
 * 4. Every later request carries `If-Range` (strong ETag, else
 *    Last-Modified) and is checked against the first answer's length and
 *    validators, so bytes of a changed file are never written:
 *    `ERR_DOWNLOAD_CHANGED` instead.
 *
 * While it runs, the download is the resource's demand hook (`waits.ts`):
 * every wait on the resource that has to wait (`waitRange`, read streams,
 * `serveRange`) pulls its bytes to the front.
 */
import { DownloadError, StorageError, invalidArgValue } from '../errors.js'
import { validateResource } from '../resource-arg.js'
import { type ByteRange, type ResourceBase, backendOf } from '../resource.js'
import {
  validateAbortSignal,
  validateChunkSize,
  validateFunction,
  validateObject,
  validateOffset,
  validateString,
} from '../validate.js'
import {
  isRetryableStatus,
  parseContentLength,
  parseContentRange,
  parseUnsatisfiedRange,
  sameValidator,
  validatorOf,
} from './http.js'
import { setDemandHook } from '../waits.js'
import { Claim, Scheduler } from './scheduler.js'

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Parallel connections for a Range-capable origin; default 4. */
  connections?: number
  /** Bytes per request; default 1 MiB. */
  pieceSize?: number
  /**
   * Attempts after a request that failed without delivering a byte (network
   * error, 5xx, 408, 429), with backoff from 250 ms doubling to 8 s; default
   * 5. A request that delivered bytes before failing is retried at once.
   */
  retries?: number
  /** Extra request headers (e.g. `Authorization`); `Range`, `If-Range` and `Accept-Encoding` are set by the download. */
  headers?: Record<string, string>
  /** Stops every request; the download rejects with `signal.reason` and the resource stays active with what arrived. */
  signal?: AbortSignal
  /** Called with the progress at most once per event-loop turn while bytes arrive, and once at the end. */
  onProgress?: (progress: DownloadProgress) => void
  /**
   * The validator (a strong ETag or a Last-Modified date) of the bytes the
   * resource already holds. Sent as `If-Range`, so a file that changed since
   * is detected (`ERR_DOWNLOAD_CHANGED`) instead of being completed with new
   * bytes. Default: the one an earlier `download()` kept in the resource's
   * metadata (`persistRanges` keeps it across restarts).
   */
  validator?: string
}

/** What the origin said about the file (from its first answer). */
export interface OriginInfo {
  /** Complete length, or null when the origin does not say. */
  size: number | null
  etag: string | null
  lastModified: string | null
  contentType: string | null
  /** Whether the origin answers Range requests (206). */
  rangeSupported: boolean
}

/** Where a download stands. */
export interface DownloadProgress {
  /** Body bytes written by this download. */
  fetchedBytes: number
  /** Bytes of the file the resource holds (resumed plus fetched). */
  presentBytes: number
  /** The complete length, once known. */
  totalBytes: number | null
}

/** What a finished download did. */
export interface DownloadResult extends OriginInfo {
  /** The committed length. */
  size: number
  /** Body bytes written by this download. */
  fetchedBytes: number
  /** Bytes the resource already held and that were kept. */
  resumedBytes: number
  /** HTTP requests made. */
  requests: number
  /** Requests that failed and were retried. */
  retries: number
  /** The validator the bytes were checked against (kept in the metadata too); null when the origin gave none. */
  validator: string | null
}

/**
 * A running download: a promise of its result, plus the origin's metadata
 * once known and a way to pull ranges to the front.
 */
export type Download = Promise<DownloadResult> & {
  /**
   * Resolves with the origin's answer to the first request (at once, without
   * a request, for a committed resource); rejects if the download fails
   * before one.
   */
  readonly origin: Promise<OriginInfo>
  /**
   * Fetch `[start, end)` before anything else (readers waiting for it);
   * returns the function that withdraws the demand. Demands are served in
   * turn; `serveRange` makes them for the ranges its clients wait for.
   */
  demand(start: number, end: number): () => void
  /** The progress now. */
  progress(): DownloadProgress
}

const MiB = 1024 * 1024
const BACKOFF_MS = 250
const BACKOFF_MAX_MS = 8000

/** Internal: a failure of one request that is worth another try. */
function isRetryable(e: unknown): boolean {
  if (e instanceof StorageError) return false
  if (e instanceof DownloadError) {
    if (e.code === 'ERR_DOWNLOAD_NETWORK') return true
    return e.code === 'ERR_DOWNLOAD_HTTP' && e.status !== undefined && isRetryableStatus(e.status)
  }
  // fetch() and body reads fail with TypeError ('fetch failed', 'terminated') on network errors.
  return true
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

const schedule: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0)

interface Settings {
  url: string
  connections: number
  pieceSize: number
  retries: number
  headers: Record<string, string>
  signal: AbortSignal | undefined
  onProgress: ((p: DownloadProgress) => void) | undefined
  validator: string | null
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  validateChunkSize(value, name)
  return value
}

function settingsOf(url: unknown, options: unknown): Settings {
  let parsed: URL
  if (url instanceof URL) parsed = url
  else {
    validateString(url, 'url')
    parsed = new URL(url)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidArgValue('url', parsed.protocol, 'must be an http: or https: URL', download)
  }
  validateObject(options, 'options')
  // Each option read once: the value checked is the value used.
  const {
    connections,
    pieceSize,
    retries = 5,
    headers,
    signal,
    onProgress,
    validator,
  } = options as Record<string, unknown>
  if (headers !== undefined) validateObject(headers, 'options.headers')
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal')
  if (onProgress !== undefined) validateFunction(onProgress, 'options.onProgress')
  if (validator !== undefined) validateString(validator, 'options.validator')
  validateOffset(retries, 'options.retries')
  return {
    url: parsed.href,
    connections: positive(connections, 'options.connections', 4),
    pieceSize: positive(pieceSize, 'options.pieceSize', MiB),
    retries,
    headers: (headers ?? {}) as Record<string, string>,
    signal,
    onProgress: onProgress as ((p: DownloadProgress) => void) | undefined,
    validator: validator ?? null,
  }
}

/** What the first answer leaves to do. */
type Plan =
  | { kind: 'pieces'; first: { claim: Claim; res: Response } }
  | { kind: 'stream'; res: Response; from: number; ranged: boolean }
  | { kind: 'complete' }

/** A demand made before the scheduler exists (the first answer not in yet). */
interface EarlyDemand {
  start: number
  end: number
  release: (() => void) | null
  withdrawn: boolean
}

/** One download's state; `run()` is the whole of it. */
class Downloader {
  private readonly stop = new AbortController()
  private scheduler: Scheduler | null = null
  private readonly early: EarlyDemand[] = []
  private size: number | null = null
  private info: OriginInfo | null = null
  /** Sent as If-Range, and what every answer must match. */
  private ifRange: string | null
  private etag: string | null = null
  private fetched = 0
  private resumed = 0
  private requests = 0
  private retried = 0
  private progressQueued = false
  private failure: unknown = undefined
  resolveOrigin!: (info: OriginInfo) => void
  rejectOrigin!: (e: unknown) => void
  readonly origin: Promise<OriginInfo>

  /** Removes this download's demand hook from the resource. */
  detachHook: () => void = () => {}

  constructor(
    private readonly resource: ResourceBase,
    private readonly s: Settings,
  ) {
    this.ifRange = s.validator
    this.origin = new Promise<OriginInfo>((resolve, reject) => {
      this.resolveOrigin = resolve
      this.rejectOrigin = reject
    })
    // The result promise carries the failure; nobody has to listen here too.
    this.origin.catch(() => {})
    const user = s.signal
    if (user) {
      const onAbort = (): void => this.abort(user.reason)
      if (user.aborted) onAbort()
      else {
        user.addEventListener('abort', onAbort, { once: true })
        this.detach = () => user.removeEventListener('abort', onAbort)
      }
    }
  }

  /** Removes the listener on the caller's signal. */
  private detach: () => void = () => {}

  progress(): DownloadProgress {
    const present = this.resumed + this.fetched
    return { fetchedBytes: this.fetched, presentBytes: Math.min(present, this.size ?? present), totalBytes: this.size }
  }

  demand(start: number, end: number): () => void {
    validateOffset(start, 'start')
    validateOffset(end, 'end')
    if (this.scheduler) return this.scheduler.demand(start, end)
    const d: EarlyDemand = { start, end, release: null, withdrawn: false }
    this.early.push(d)
    return () => {
      d.withdrawn = true
      d.release?.()
    }
  }

  private abort(reason: unknown): void {
    if (this.stop.signal.aborted) return
    this.stop.abort(reason)
    this.scheduler?.abortAll(reason)
  }

  async run(): Promise<DownloadResult> {
    // Demands made right after download() returned choose the first request.
    await Promise.resolve()
    try {
      return await this.runInner()
    } catch (e) {
      const userAbort = this.s.signal?.aborted === true && e === this.s.signal.reason
      if (!userAbort && !(e instanceof StorageError)) {
        // Readers must not wait for bytes that will not come.
        try {
          this.resource.fail(`download failed: ${e instanceof Error ? e.message : String(e)}`)
        } catch {
          // Closed: nobody is waiting.
        }
      }
      this.rejectOrigin(e)
      throw e
    } finally {
      this.detach()
      this.detachHook()
    }
  }

  private async runInner(): Promise<DownloadResult> {
    const r = this.resource
    const status = r.status()
    const meta = r.metadata()
    if (status.kind === 'committed') {
      const len = r.len() ?? 0
      this.size = len
      this.resumed = len
      const { etag = null, lastModified = null, contentType = null } = meta
      this.setOrigin({ size: len, etag, lastModified, contentType, rangeSupported: true })
      return this.result()
    }
    if (status.kind === 'failed') r.reactivate()
    // Bytes held: what an earlier run learned says which file they are of.
    if (this.ifRange === null && r.presentBytes() > 0) {
      const strong = meta.etag !== undefined && !meta.etag.startsWith('W/') ? meta.etag : undefined
      this.ifRange = strong ?? meta.lastModified ?? null
    }
    const plan = await this.probe()
    if (plan.kind === 'pieces') await this.lanes(plan.first)
    else if (plan.kind === 'stream') await this.sequential(plan.res, plan.from, plan.ranged)
    this.commit()
    return this.result()
  }

  /**
   * The first request, retried until the origin answers usefully: it tells
   * the length, the validators and whether ranges work, and its body is the
   * first piece of what follows.
   */
  private async probe(): Promise<Plan> {
    for (let failures = 0; ; ) {
      this.throwIfStopped()
      const { start, end } = this.firstWanted()
      // Its own controller: if its body becomes the first claim, a demand may preempt it.
      const ctl = new AbortController()
      const onStop = (): void => ctl.abort(this.stop.signal.reason)
      this.stop.signal.addEventListener('abort', onStop, { once: true })
      try {
        const res = await this.request(`bytes=${start}-${end - 1}`, ctl.signal)
        return await this.planFrom(res, start, ctl)
      } catch (e) {
        if (this.stop.signal.aborted) throw this.stop.signal.reason
        if (!isRetryable(e)) throw e
        if (++failures > this.s.retries) throw this.exhausted(e)
        this.retried++
        await sleep(backoff(failures), this.stop.signal)
      } finally {
        this.stop.signal.removeEventListener('abort', onStop)
      }
    }
  }

  /**
   * The first request's range: one piece from the first missing byte a
   * demand wants, else from the first missing byte, ending where the gap
   * ends (no present byte is asked for again).
   */
  private firstWanted(): ByteRange {
    const all = Number.MAX_SAFE_INTEGER
    let start = this.resource.nextGap(0, all)?.start ?? 0
    for (const d of this.early) {
      const gap = d.withdrawn ? null : this.resource.nextGap(d.start, d.end)
      if (gap) {
        start = gap.start
        break
      }
    }
    const gapEnd = this.resource.nextGap(start, all)?.end ?? all
    return { start, end: Math.min(gapEnd, start + this.s.pieceSize) }
  }

  /** What the first answer means for the rest; throws (retryable or not) when it is no use. */
  private async planFrom(res: Response, start: number, ctl: AbortController): Promise<Plan> {
    const h = res.headers
    this.checkEncoding(res)
    if (res.status === 206) {
      const cr = parseContentRange(h.get('content-range'))
      if (cr === null || cr.first !== start) {
        await discard(res)
        throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, 'a 206 answer without the Content-Range asked for', {
          status: 206,
        })
      }
      if (this.ifRange !== null && sameValidator(h, this.ifRange) === false) {
        await discard(res)
        throw this.changed(`its validator is ${validatorOf(h)}, not ${this.ifRange}`)
      }
      // No total length: one open-ended stream from here.
      if (cr.total === null) {
        this.learn(h, null, true)
        return { kind: 'stream', res, from: start, ranged: true }
      }
      this.checkNothingPast(cr.total)
      this.learn(h, cr.total, true)
      const sched = new Scheduler(this.resource, cr.total, this.s.pieceSize, this.s.pieceSize * this.s.connections)
      this.scheduler = sched
      for (const d of this.early) if (!d.withdrawn) d.release = sched.demand(d.start, d.end)
      const claim = sched.claim(start, cr.last + 1)
      claim.stop.signal.addEventListener('abort', () => ctl.abort(claim.stop.signal.reason), { once: true })
      return { kind: 'pieces', first: { claim, res } }
    }
    if (res.status === 200) {
      if (this.ifRange !== null && sameValidator(h, this.ifRange) === false) {
        await discard(res)
        throw this.changed(`its validator is ${validatorOf(h)}, not ${this.ifRange}`)
      }
      // No Range support: the whole file, from byte 0, in one stream.
      const size = parseContentLength(h.get('content-length'))
      if (size !== null) this.checkNothingPast(size)
      this.learn(h, size, false)
      this.resumed = 0
      return { kind: 'stream', res, from: 0, ranged: false }
    }
    await discard(res)
    if (res.status === 416) {
      const total = parseUnsatisfiedRange(h.get('content-range'))
      if (total === null || total > start) {
        throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, `416 for bytes from ${start}`, { status: 416 })
      }
      // Everything below the end is here already.
      this.checkNothingPast(total)
      this.learn(h, total, true)
      return { kind: 'complete' }
    }
    throw this.statusError(res.status)
  }

  /**
   * Records what the first answer told: length (the resource's expected
   * length from now on), validators, type; the resource keeps them in its
   * metadata with the URL, so a later run (or `serveRange`) knows them.
   */
  private learn(h: Headers, size: number | null, rangeSupported: boolean): void {
    const r = this.resource
    if (size !== null) {
      const known = r.len()
      if (known !== null && known !== size && r.presentBytes() > 0) {
        throw this.changed(`it is ${size} bytes long, not ${known}`)
      }
      r.setExpectedLen(size)
    }
    this.size = size
    this.etag = h.get('etag')
    if (this.ifRange === null) this.ifRange = validatorOf(h)
    this.resumed = r.presentBytes()
    const info: OriginInfo = {
      size,
      etag: this.etag,
      lastModified: h.get('last-modified'),
      contentType: h.get('content-type'),
      rangeSupported,
    }
    r.setMetadata({ etag: info.etag, lastModified: info.lastModified, contentType: info.contentType, url: this.s.url })
    this.setOrigin(info)
  }

  private setOrigin(info: OriginInfo): void {
    this.info = info
    this.resolveOrigin(info)
  }

  /** Bytes held past the origin's end mean the resource holds another file. */
  private checkNothingPast(size: number): void {
    const held = this.resource.ranges()
    if (held.length > 0 && held[held.length - 1].end > size) {
      throw this.changed(`it is ${size} bytes long, but the resource holds bytes past that`)
    }
  }

  /** Runs `connections` lanes until nothing is missing; the first fatal error stops them all. */
  private async lanes(first: { claim: Claim; res: Response }): Promise<void> {
    const n = this.s.connections
    const lanes = [this.lane(first)]
    for (let i = 1; i < n; i++) lanes.push(this.lane(null))
    await Promise.all(
      lanes.map((p) =>
        p.catch((e: unknown) => {
          if (this.failure === undefined) this.failure = e
          this.abort(e)
        }),
      ),
    )
    if (this.failure !== undefined) throw this.failure
    this.throwIfStopped()
  }

  /** One connection: takes the next free range, fetches it, repeats; retries what failed. */
  private async lane(first: { claim: Claim; res: Response } | null): Promise<void> {
    const sched = this.scheduler as Scheduler
    let pending = first
    let failures = 0
    while (!this.stop.signal.aborted) {
      let claim: Claim
      let res: Response | null = null
      if (pending) {
        claim = pending.claim
        res = pending.res
        pending = null
      } else {
        const next = sched.next()
        if (next === null) {
          if (sched.inFlight === 0) return
          await sched.changed()
          continue
        }
        claim = next
      }
      const before = claim.pos
      try {
        if (res === null) {
          res = await this.request(`bytes=${claim.pos}-${claim.end - 1}`, claim.stop.signal)
          await this.checkPiece(res, claim)
        }
        await this.readBody(res, claim)
        failures = 0
        sched.release(claim)
      } catch (e) {
        sched.release(claim)
        if (this.stop.signal.aborted) throw this.stop.signal.reason
        // A demand took this connection; what arrived is kept.
        if (claim.preempted) continue
        if (!isRetryable(e)) throw e
        this.retried++
        if (claim.pos > before) failures = 0
        else {
          if (++failures > this.s.retries) throw this.exhausted(e)
          await sleep(backoff(failures), this.stop.signal)
        }
      }
    }
    throw this.stop.signal.reason
  }

  /** Checks a piece's answer: a 206 of this file at `claim.pos`, or why not. */
  private async checkPiece(res: Response, claim: Claim): Promise<void> {
    const h = res.headers
    this.checkEncoding(res)
    if (res.status === 206) {
      const cr = parseContentRange(h.get('content-range'))
      if (cr !== null && cr.total !== null && cr.total !== this.size) {
        await discard(res)
        throw this.changed(`its length is ${cr.total} bytes, not ${this.size}`)
      }
      const etag = h.get('etag')
      if ((this.etag !== null && etag !== null && etag !== this.etag) || this.sameAsFirst(h) === false) {
        await discard(res)
        throw this.changed(`its validator is ${validatorOf(h)}, not ${this.ifRange}`)
      }
      if (cr === null || cr.first !== claim.pos) {
        await discard(res)
        throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, 'a 206 answer without the Content-Range asked for', {
          status: 206,
        })
      }
      // An origin that caps range sizes: the rest of the claim is free for the next request.
      if (cr.last + 1 < claim.end) claim.end = cr.last + 1
      return
    }
    await discard(res)
    if (res.status === 200) {
      // If-Range failed (or the origin stopped doing ranges): not the same file, as far as can be proven.
      if (this.ifRange === null || this.sameAsFirst(h) !== true) {
        throw this.changed('it answered a Range request with the whole file')
      }
      throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, 'the origin stopped answering Range requests', {
        status: 200,
      })
    }
    if (res.status === 416) throw this.changed(`it has no byte ${claim.pos} any more`)
    throw this.statusError(res.status)
  }

  private sameAsFirst(h: Headers): boolean | null {
    return this.ifRange === null ? null : sameValidator(h, this.ifRange)
  }

  /**
   * One stream to the end: the origin's whole file (no Range support) or
   * open-ended ranges (no known total; the first answer was one piece).
   * Retries re-request from where it stopped (ranges) or from byte 0.
   */
  private async sequential(first: Response, from: number, ranged: boolean): Promise<void> {
    let res: Response | null = first
    // The first ranged answer was for one piece only; later ones are open-ended.
    let bounded = ranged
    let pos = from
    let best = from
    for (let failures = 0; ; ) {
      const claim = new Claim(pos, pos, this.size ?? Number.POSITIVE_INFINITY)
      try {
        if (res === null) {
          res = await this.request(ranged ? `bytes=${pos}-` : null)
          if (await this.checkSequential(res, pos, ranged)) break
        }
        await this.readBody(res, claim)
        pos = claim.pos
        res = null
        if (!bounded) break
        bounded = false
      } catch (e) {
        res = null
        if (this.stop.signal.aborted) throw this.stop.signal.reason
        if (!isRetryable(e)) throw e
        this.retried++
        if (claim.pos > best) {
          best = claim.pos
          failures = 0
        } else {
          if (++failures > this.s.retries) throw this.exhausted(e)
          await sleep(backoff(failures), this.stop.signal)
        }
        // Without ranges the stream restarts at 0 (rewriting the same bytes).
        pos = ranged ? claim.pos : 0
      }
    }
    if (this.size === null) this.size = pos
  }

  /** Checks a sequential answer; true when it says the end is reached already (416 at the end). */
  private async checkSequential(res: Response, pos: number, ranged: boolean): Promise<boolean> {
    const h = res.headers
    this.checkEncoding(res)
    if (ranged && res.status === 416 && parseUnsatisfiedRange(h.get('content-range')) === pos) {
      await discard(res)
      return true
    }
    const expected = ranged ? 206 : 200
    if (res.status !== expected) {
      await discard(res)
      if (isRetryableStatus(res.status)) throw this.statusError(res.status)
      throw this.changed(`it answered ${res.status} where it answered ${expected} before`)
    }
    const etag = h.get('etag')
    if ((this.etag !== null && etag !== null && etag !== this.etag) || this.sameAsFirst(h) === false) {
      await discard(res)
      throw this.changed(`its validator is ${validatorOf(h)}, not ${this.ifRange}`)
    }
    if (ranged) {
      const cr = parseContentRange(h.get('content-range'))
      if (cr === null || cr.first !== pos) {
        await discard(res)
        throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, 'a 206 answer without the Content-Range asked for', {
          status: 206,
        })
      }
    } else if (this.size !== null && parseContentLength(h.get('content-length')) !== this.size) {
      await discard(res)
      throw this.changed(`its length is ${h.get('content-length')} bytes, not ${this.size}`)
    }
    return false
  }

  /** Writes the body into the resource from `claim.pos` as it arrives; throws if it ends short. */
  private async readBody(res: Response, claim: Claim): Promise<void> {
    const body = res.body
    if (body !== null) {
      const reader = body.getReader()
      let finished = false
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) {
            finished = true
            break
          }
          const room = claim.end - claim.pos
          const chunk = value.length > room ? value.subarray(0, room) : value
          if (chunk.length === 0) continue
          this.resource.writeAt(claim.pos, chunk)
          claim.pos += chunk.length
          this.fetched += chunk.length
          this.queueProgress()
          // Cut short by a demand: the rest of this answer is someone else's now.
          if (claim.cut && claim.pos >= claim.end) break
        }
      } finally {
        if (!finished) reader.cancel().catch(() => {})
        reader.releaseLock()
      }
    }
    if (claim.pos < claim.end && claim.end !== Number.POSITIVE_INFINITY) {
      throw new DownloadError(
        'ERR_DOWNLOAD_NETWORK',
        this.s.url,
        `the answer for bytes ${claim.start}-${claim.end - 1} ended at ${claim.pos}`,
      )
    }
  }

  private request(range: string | null, signal: AbortSignal = this.stop.signal): Promise<Response> {
    this.throwIfStopped()
    const headers = new Headers(this.s.headers)
    // Ranges are of the stored bytes: no transfer compression.
    headers.set('accept-encoding', 'identity')
    if (range !== null) {
      headers.set('range', range)
      if (this.ifRange !== null) headers.set('if-range', this.ifRange)
    } else {
      headers.delete('range')
      headers.delete('if-range')
    }
    this.requests++
    return fetch(this.s.url, { headers, signal })
  }

  private checkEncoding(res: Response): void {
    const enc = res.headers.get('content-encoding')
    if (enc !== null && enc.trim().toLowerCase() !== 'identity') {
      void discard(res)
      throw new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, `an encoded answer (Content-Encoding: ${enc})`, {
        status: res.status,
      })
    }
  }

  /** Commits at the length learned; the resource refuses (`ERR_STORAGE_INCOMPLETE`) if a byte is missing. */
  private commit(): void {
    this.resource.setExpectedLen(this.size ?? 0)
    this.resource.commit()
    this.emitProgress()
  }

  private result(): DownloadResult {
    const info = this.info as OriginInfo
    return {
      ...info,
      size: this.size ?? 0,
      fetchedBytes: this.fetched,
      resumedBytes: this.resumed,
      requests: this.requests,
      retries: this.retried,
      validator: this.ifRange,
    }
  }

  private queueProgress(): void {
    if (this.progressQueued || !this.s.onProgress) return
    this.progressQueued = true
    schedule(() => {
      this.progressQueued = false
      this.emitProgress()
    })
  }

  private emitProgress(): void {
    if (!this.s.onProgress) return
    try {
      this.s.onProgress(this.progress())
    } catch (e) {
      // A throwing listener stops the download with its error.
      if (this.failure === undefined) this.failure = e
      this.abort(e)
    }
  }

  private throwIfStopped(): void {
    if (this.stop.signal.aborted) throw this.stop.signal.reason
  }

  private changed(why: string): DownloadError {
    return new DownloadError('ERR_DOWNLOAD_CHANGED', this.s.url, `the origin's file changed: ${why}`)
  }

  private statusError(status: number): DownloadError {
    return new DownloadError('ERR_DOWNLOAD_HTTP', this.s.url, `HTTP ${status}`, { status })
  }

  /** The error to give up with after the last retry. */
  private exhausted(e: unknown): unknown {
    if (e instanceof DownloadError) return e
    const detail = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)
    return new DownloadError('ERR_DOWNLOAD_NETWORK', this.s.url, `network error: ${detail}`, { cause: e })
  }
}

/** Exponential backoff with jitter, for the `failures`-th failure in a row. */
function backoff(failures: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** (failures - 1))
  return base / 2 + Math.random() * (base / 2)
}

/** Drops a response's body so its connection can be reused or closed. */
async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel()
  } catch {
    // Already consumed or errored.
  }
}

/**
 * Fills `resource` from `url` and commits it; see {@link DownloadOptions}.
 * Resumes from the bytes the resource holds (`nextGap`). On failure the
 * resource is failed (waiting readers get `ERR_STORAGE_FAILED`; its bytes
 * and range record are kept, and a later `download()` reactivates it) and the
 * promise rejects with a `DownloadError` (`ERR_DOWNLOAD_*`) or the
 * resource's `StorageError`. Aborting `options.signal` rejects with its
 * reason and leaves the resource active.
 *
 * Bad arguments throw at once (`TypeError`/`RangeError` with Node's codes).
 */
export function download(url: string | URL, resource: ResourceBase, options: DownloadOptions = {}): Download {
  validateResource(resource, 'resource', download)
  const settings = settingsOf(url, options)
  const d = new Downloader(resource, settings)
  const demand = (start: number, end: number): (() => void) => d.demand(start, end)
  d.detachHook = setDemandHook(backendOf(resource), { demand, ready: d.origin })
  const promise = d.run()
  return Object.assign(promise, { origin: d.origin, demand, progress: () => d.progress() }) as Download
}
