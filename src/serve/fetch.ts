/**
 * `respondRange`: the fetch-style form of `serveRange`, for handlers of the
 * shape `(request: Request) => Response` (Node 20+ servers built on the
 * WHATWG types, Hono, service workers).
 */
import { validateResource } from '../resource-arg.js'
import type { ResourceBase } from '../resource.js'
import { BodyReader } from './body.js'
import { type ServeOptions, prepareResponse, validateServeOptions } from './prepare.js'

/**
 * The same answer as `serveRange`, as a `Response` whose body is pulled from
 * the resource: backpressure is the consumer's pace, and cancelling the body
 * (or aborting `request.signal`, which servers do when the client leaves)
 * withdraws the waits and releases any demand on the download.
 *
 * Rejects with the abort reason if the request is aborted before the answer
 * is decided (while waiting for an unknown length), and for bad arguments.
 * A storage failure mid-body errors the body stream.
 */
export async function respondRange(
  request: Request,
  resource: ResourceBase,
  options: ServeOptions = {},
): Promise<Response> {
  validateResource(resource, 'resource', respondRange)
  const opts = validateServeOptions(options)
  const stop = new AbortController()
  const signals = [request.signal, opts.signal].filter((s): s is AbortSignal => s !== undefined && s !== null)
  const onAbort = (): void => {
    const reason = signals.find((s) => s.aborted)?.reason
    stop.abort(reason)
  }
  for (const s of signals) {
    if (s.aborted) onAbort()
    else s.addEventListener('abort', onAbort, { once: true })
  }
  const detach = (): void => {
    for (const s of signals) s.removeEventListener('abort', onAbort)
  }

  let prepared: Awaited<ReturnType<typeof prepareResponse>>
  try {
    prepared = await prepareResponse(
      resource,
      { method: request.method, header: (name) => request.headers.get(name) },
      opts,
      stop.signal,
    )
  } catch (e) {
    detach()
    throw e
  }
  const { status, headers, body } = prepared
  if (body === null) {
    detach()
    return new Response(null, { status, headers })
  }
  const reader = new BodyReader(resource, body, stop.signal, prepared.demand)
  const end = (): void => {
    reader.close()
    detach()
  }
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const chunk = reader.readNow()
            if (chunk === undefined) {
              await reader.wait()
              continue
            }
            if (chunk === null) {
              end()
              controller.close()
            } else {
              controller.enqueue(chunk)
            }
            return
          }
        } catch (e) {
          end()
          controller.error(e)
        }
      },
      cancel(reason) {
        stop.abort(reason)
        end()
      },
    },
    // Read only when the consumer asks: the resource is the buffer.
    { highWaterMark: 0 },
  )
  return new Response(stream, { status, headers })
}
