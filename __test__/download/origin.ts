/**
 * A small node:http origin that misbehaves on purpose, for the downloader
 * tests nginx cannot stage: no Range support, connections dropped part-way,
 * 503s before it works, no total length in Content-Range, compressed bodies.
 * Every request is logged.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { gzipSync } from 'node:zlib'

/** How the origin behaves. */
export interface OriginBehaviour {
  /** Answer `Range` with 206 (default true); false: always the whole file, 200. */
  ranges?: boolean
  /** Destroy the connection after sending this many body bytes of every answer. */
  dropAfter?: number
  /** Answer this many requests with 503 before behaving. */
  failFirst?: number
  /** `Content-Range: bytes a-b/*` (no total length). */
  unknownTotal?: boolean
  /** Send the body gzip-encoded (Content-Encoding: gzip), whatever was asked. */
  gzip?: boolean
  /** Answer at most this many bytes per range (as some CDNs do). */
  capRange?: number
  /** ETag sent with every answer; default `"v1"`. */
  etag?: string
}

/** One logged request. */
export interface OriginRequest {
  range: string | null
  ifRange: string | null
  status: number
}

export interface Origin {
  url: string
  requests: OriginRequest[]
  close(): Promise<void>
}

function parse(range: string | undefined, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '')
  if (!m) return null
  const start = Number(m[1])
  const end = m[2] === '' ? size : Math.min(Number(m[2]) + 1, size)
  return { start, end }
}

/** Starts the origin on 127.0.0.1 serving `data` at `/file`. */
export async function startOrigin(data: Buffer, behaviour: OriginBehaviour = {}): Promise<Origin> {
  const requests: OriginRequest[] = []
  const sockets = new Set<Socket>()
  let failures = behaviour.failFirst ?? 0
  const etag = behaviour.etag ?? '"v1"'
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const log: OriginRequest = {
      range: req.headers.range ?? null,
      ifRange: (req.headers['if-range'] as string | undefined) ?? null,
      status: 0,
    }
    requests.push(log)
    if (req.url !== '/file') {
      log.status = 404
      res.writeHead(404).end()
      return
    }
    if (failures > 0) {
      failures--
      log.status = 503
      res.writeHead(503).end()
      return
    }
    const range = behaviour.ranges === false ? null : parse(req.headers.range, data.length)
    if (range && range.start >= data.length) {
      log.status = 416
      res.writeHead(416, { 'Content-Range': `bytes */${data.length}` }).end()
      return
    }
    const { start } = range ?? { start: 0 }
    let end = range?.end ?? data.length
    if (range && behaviour.capRange !== undefined) end = Math.min(end, start + behaviour.capRange)
    let body = data.subarray(start, end)
    const headers: Record<string, string> = { ETag: etag, 'Content-Type': 'application/octet-stream' }
    if (behaviour.gzip) {
      body = gzipSync(body)
      headers['Content-Encoding'] = 'gzip'
    }
    headers['Content-Length'] = String(body.length)
    if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${behaviour.unknownTotal ? '*' : data.length}`
    log.status = range ? 206 : 200
    res.writeHead(log.status, headers)
    if (behaviour.dropAfter !== undefined && behaviour.dropAfter < body.length) {
      res.write(body.subarray(0, behaviour.dropAfter), () => res.socket?.destroy())
      return
    }
    res.end(body)
  }
  const server = createServer(handler)
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/file`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
