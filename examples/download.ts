/**
 * A small parallel Range downloader over node:http(s): it fetches the gaps
 * of a resource (`nextGap`) in pieces, over several connections, in any
 * order, writing each response into the resource as its bytes arrive. Used by
 * the demo and by the download tests.
 */
import * as http from 'node:http'
import * as https from 'node:https'
import type { ByteRange, ResourceBase } from '@kithara/storage'

/** What the origin says about the file. */
export interface RemoteFile {
  size: number
}

/** A download error that is not a storage error (HTTP status, short body …). */
export class DownloadError extends Error {
  override get name(): string {
    return 'DownloadError'
  }
}

function clientOf(url: URL): typeof http | typeof https {
  if (url.protocol === 'http:') return http
  if (url.protocol === 'https:') return https
  throw new DownloadError(`unsupported protocol ${url.protocol} (http: or https: only)`)
}

/**
 * Asks for the first byte (`Range: bytes=0-0`) to learn the size from
 * `Content-Range`; a server that answers 200 cannot resume or download in
 * parallel, so that is an error.
 */
export function probe(url: string, signal?: AbortSignal): Promise<RemoteFile> {
  const target = new URL(url)
  const client = clientOf(target)
  return new Promise<RemoteFile>((resolve, reject) => {
    const req = client.get(target, { headers: { Range: 'bytes=0-0' }, signal }, (res) => {
      res.resume()
      const total = /\/(\d+)$/.exec(res.headers['content-range'] ?? '')
      if (res.statusCode === 206 && total) resolve({ size: Number(total[1]) })
      else if (res.statusCode === 416) resolve({ size: 0 })
      else if (res.statusCode === 200) reject(new DownloadError(`${url} does not support Range requests`))
      else reject(new DownloadError(`${url}: HTTP ${res.statusCode}`))
    })
    req.on('error', reject)
  })
}

/** A deterministic shuffle (mulberry32), so a test's piece order is reproducible. */
function shuffle<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

/** How pieces are ordered. */
export type PieceOrder = 'shuffled' | 'inOrder'

/**
 * The missing ranges of `resource` in `[0, size)`, cut into pieces of at
 * most `pieceSize` bytes, shuffled unless `order` is `'inOrder'`.
 */
export function planPieces(
  resource: ResourceBase,
  size: number,
  pieceSize: number,
  order: PieceOrder = 'shuffled',
  seed = 1,
): ByteRange[] {
  const pieces: ByteRange[] = []
  let from = 0
  for (;;) {
    const gap = resource.nextGap(from, size)
    if (!gap) break
    for (let s = gap.start; s < gap.end; s += pieceSize)
      pieces.push({ start: s, end: Math.min(s + pieceSize, gap.end) })
    from = gap.end
  }
  return order === 'shuffled' ? shuffle(pieces, seed) : pieces
}

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Parallel connections; default 4. */
  connections?: number
  /** Stops every request; the download rejects with the signal's reason. */
  signal?: AbortSignal
  /** Extra attempts per piece after a failed response (only its missing bytes are asked again); default 2. */
  retries?: number
  /** Called for every request, with the byte range asked for. */
  onRequest?: (range: ByteRange) => void
  /** Called when a piece is completely written. */
  onPiece?: (range: ByteRange) => void
}

/** What a download did. */
export interface DownloadStats {
  requests: number
  /** Sum of the lengths of every requested range. */
  requestedBytes: number
  /** Bytes written into the resource. */
  receivedBytes: number
}

/**
 * Fetches `range` of `url` into `resource`, writing each chunk at its offset
 * as it arrives. Rejects on a non-206 answer or a body that ends early;
 * whatever arrived before that is written (and marked) already.
 */
function fetchRange(
  url: URL,
  agent: http.Agent,
  resource: ResourceBase,
  range: ByteRange,
  signal: AbortSignal,
  stats: DownloadStats,
): Promise<void> {
  const client = clientOf(url)
  return new Promise<void>((resolve, reject) => {
    let pos = range.start
    const req = client.get(
      url,
      { agent, signal, headers: { Range: `bytes=${range.start}-${range.end - 1}` } },
      (res) => {
        const cr = /^bytes (\d+)-(\d+)\//.exec(res.headers['content-range'] ?? '')
        if (res.statusCode !== 206 || !cr || Number(cr[1]) !== range.start) {
          res.resume()
          reject(new DownloadError(`bytes ${range.start}-${range.end - 1}: HTTP ${res.statusCode}`))
          return
        }
        res.on('data', (chunk: Buffer) => {
          const take = Math.min(chunk.length, range.end - pos)
          if (take <= 0) return
          try {
            resource.writeAt(pos, take === chunk.length ? chunk : chunk.subarray(0, take))
          } catch (e) {
            res.destroy(e as Error)
            return
          }
          pos += take
          stats.receivedBytes += take
        })
        res.on('end', () => {
          if (pos === range.end) resolve()
          else reject(new DownloadError(`bytes ${range.start}-${range.end - 1}: body ended at ${pos}`))
        })
        res.on('error', reject)
        // 'aborted' without 'error' on some Node versions when the peer resets.
        res.on('aborted', () =>
          reject(new DownloadError(`bytes ${range.start}-${range.end - 1}: connection dropped at ${pos}`)),
        )
      },
    )
    req.on('error', reject)
  })
}

/**
 * Downloads `pieces` of `url` into `resource` over `connections` parallel
 * connections (each takes the next piece when its last one is done). Does not
 * commit: the caller decides (all pieces done → `commit(size)`).
 */
export async function download(
  resource: ResourceBase,
  url: string,
  pieces: ByteRange[],
  options: DownloadOptions = {},
): Promise<DownloadStats> {
  const target = new URL(url)
  const connections = Math.max(1, options.connections ?? 4)
  const retries = options.retries ?? 2
  const stop = new AbortController()
  const onOuterAbort = (): void => stop.abort(options.signal?.reason)
  if (options.signal?.aborted) onOuterAbort()
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })
  const agent = new (target.protocol === 'https:' ? https.Agent : http.Agent)({
    keepAlive: true,
    maxSockets: connections,
  })
  const stats: DownloadStats = { requests: 0, requestedBytes: 0, receivedBytes: 0 }
  let next = 0

  const fetchPiece = async (piece: ByteRange): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      // After a failed attempt, ask only for what is still missing.
      const gap = attempt === 0 ? piece : resource.nextGap(piece.start, piece.end)
      if (!gap) break
      stats.requests++
      stats.requestedBytes += gap.end - gap.start
      options.onRequest?.(gap)
      try {
        await fetchRange(target, agent, resource, gap, stop.signal, stats)
        if (resource.containsRange(piece.start, piece.end)) break
      } catch (e) {
        if (stop.signal.aborted || attempt >= retries) throw e
      }
    }
    options.onPiece?.(piece)
  }

  const lane = async (): Promise<void> => {
    while (next < pieces.length && !stop.signal.aborted) await fetchPiece(pieces[next++])
  }

  try {
    const lanes = Array.from({ length: Math.min(connections, pieces.length) }, lane)
    const results = await Promise.allSettled(
      lanes.map((p) =>
        p.catch((e) => {
          // The first failed lane stops the others.
          stop.abort(e)
          throw e
        }),
      ),
    )
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw stop.signal.aborted ? stop.signal.reason : failed.reason
    if (stop.signal.aborted) throw stop.signal.reason
    return stats
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort)
    agent.destroy()
  }
}
