/** Helpers of the serving tests: a server, curl, multipart parsing, the pending-wait count. */
import { execFile } from 'node:child_process'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')

/**
 * Waits of this thread still pending in the facade (registered with the
 * backend and not yet settled or withdrawn). Not public API: read from the
 * built facade module that keeps the table.
 */
export function pendingWaits(): number {
  const waits = require(join(root, 'dist', 'waits.js')) as { pendingWaitCount(): number }
  return waits.pendingWaitCount()
}

/** A node:http server on 127.0.0.1, closed (with its connections) when the test ends. */
export async function listen(
  t: { teardown(fn: () => void): void },
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; base: string }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** What curl got. */
export interface CurlResult {
  /** curl's exit code (0, or e.g. 28 for --max-time). */
  exit: number
  status: number
  /** Lower-cased header names. */
  headers: Record<string, string>
  body: Buffer
}

/** Runs `curl -s -i <args>` and splits its output into status, headers and body. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-i', ...args],
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout: Buffer, stderr: Buffer) => {
        const exit = err ? Number((err as { code?: number }).code ?? -1) : 0
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(new Error(`curl did not run: ${err.message} ${stderr}`))
          return
        }
        const split = stdout.indexOf('\r\n\r\n')
        const head = (split < 0 ? stdout : stdout.subarray(0, split)).toString('latin1')
        const body = split < 0 ? Buffer.alloc(0) : stdout.subarray(split + 4)
        const [statusLine, ...lines] = head.split('\r\n')
        const headers: Record<string, string> = {}
        for (const l of lines) {
          const i = l.indexOf(':')
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
        }
        resolve({ exit, status: Number(statusLine?.split(' ')[1] ?? 0), headers, body })
      },
    )
  })
}

/** One part of a multipart/byteranges body. */
export interface Part {
  headers: Record<string, string>
  body: Buffer
}

/** Parses a `multipart/byteranges` body with `boundary` (RFC 2046 framing, CRLF line ends). */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: Part[] = []
  let at = body.indexOf(delimiter)
  if (at < 0) throw new Error('no boundary in the body')
  for (;;) {
    at += delimiter.length
    if (body.subarray(at, at + 2).toString() === '--') break
    at += 2 // CRLF after the delimiter
    const headEnd = body.indexOf('\r\n\r\n', at)
    const headers: Record<string, string> = {}
    for (const l of body.subarray(at, headEnd).toString('latin1').split('\r\n')) {
      const i = l.indexOf(':')
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4)
    if (next < 0) throw new Error('unterminated part')
    parts.push({ headers, body: body.subarray(headEnd + 4, next) })
    at = next + 2
  }
  return parts
}

/** Resolves after `n` turns of the event loop. */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}
