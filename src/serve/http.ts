/**
 * `serveRange`: answers a node:http request (and so an Express, Fastify or
 * Koa raw handler) from a resource, with Range, multipart, HEAD and the
 * conditional headers; bytes not present yet are waited for, and the waits
 * are withdrawn when the client goes away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ResourceBase } from '../resource.js'
import { BodyReader } from './body.js'
import { type ServeOptions, prepareResponse, validateServeOptions } from './prepare.js'
import { validateResource } from '../resource-arg.js'

/** How a response went. */
export interface ServeResult {
  /** The status sent; 0 when the client left before the answer was decided. */
  status: number
  /** Body bytes handed to the socket (multipart headers included). */
  bytesSent: number
  /** The whole response was written. */
  completed: boolean
  /**
   * What cut the body short other than the client leaving: the resource's
   * `StorageError` (failed, closed …) or a resource committed shorter than
   * the promised length. The socket was destroyed so the client sees a
   * truncated response, not a complete one.
   */
  error?: unknown
}

function headerOf(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name]
  if (v === undefined) return null
  return Array.isArray(v) ? v.join(', ') : v
}

/** Resolves on `'drain'`, or when the response closes or `signal` aborts. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Resolves when the response has finished or closed. */
function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('finish', done)
      res.off('close', done)
      resolve()
    }
    res.on('finish', done)
    res.on('close', done)
  })
}

/**
 * Answers `req` from `resource`: 200 with the whole body, 206 with one range
 * or `multipart/byteranges`, 416 (`Content-Range: bytes *\/len`), 304 for a
 * matching `If-None-Match`/`If-Modified-Since`, 405 for other methods, HEAD
 * without a body; `If-Range` with a strong ETag or the exact Last-Modified.
 * Headers go out at once when the length is known; the body follows as the
 * bytes become present, minding backpressure. When the client disconnects,
 * pending waits are withdrawn and any demand on the download is released.
 *
 * Never rejects for what the client, the resource or the origin does (that
 * is in the result); rejects only for bad arguments.
 */
export async function serveRange(
  req: IncomingMessage,
  res: ServerResponse,
  resource: ResourceBase,
  options: ServeOptions = {},
): Promise<ServeResult> {
  validateResource(resource, 'resource', serveRange)
  const opts = validateServeOptions(options)
  const stop = new AbortController()
  const onClose = (): void => {
    if (!res.writableFinished) stop.abort(new Error('the client closed the connection'))
  }
  const onShutdown = (): void => stop.abort(opts.signal?.reason)
  res.on('close', onClose)
  if (opts.signal?.aborted) onShutdown()
  opts.signal?.addEventListener('abort', onShutdown, { once: true })
  let bytesSent = 0
  let status = 0
  try {
    let prepared: Awaited<ReturnType<typeof prepareResponse>>
    try {
      prepared = await prepareResponse(
        resource,
        { method: req.method ?? 'GET', header: (name) => headerOf(req, name) },
        opts,
        stop.signal,
      )
    } catch {
      // Only an abort gets here: nobody is left to answer.
      if (!res.destroyed) res.destroy()
      return { status, bytesSent, completed: false }
    }
    status = prepared.status
    res.writeHead(prepared.status, prepared.headers)
    if (prepared.body === null) {
      res.end()
      await finished(res)
      return { status, bytesSent, completed: !stop.signal.aborted }
    }
    const reader = new BodyReader(resource, prepared.body, stop.signal, prepared.demand)
    try {
      for (;;) {
        const chunk = reader.readNow()
        if (chunk === undefined) {
          await reader.wait()
          continue
        }
        if (chunk === null) break
        bytesSent += chunk.length
        if (!res.write(chunk)) await drained(res, stop.signal)
        if (stop.signal.aborted) return { status, bytesSent, completed: false }
      }
    } catch (error) {
      if (stop.signal.aborted) return { status, bytesSent, completed: false }
      // Headers are out: destroying is the only way to say "incomplete".
      res.destroy()
      return { status, bytesSent, completed: false, error }
    } finally {
      reader.close()
    }
    res.end()
    await finished(res)
    return { status, bytesSent, completed: !stop.signal.aborted }
  } finally {
    res.off('close', onClose)
    opts.signal?.removeEventListener('abort', onShutdown)
  }
}
