/**
 * `serveRange` on a real node:http server, with curl as the client: every
 * Range form, HEAD, If-Range, bytes that arrive while the client waits, a
 * client that gives up while waiting, and backpressure from a slow client.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CancellationToken,
  type Download,
  MemResource,
  MmapResource,
  type ServeResult,
  backendName,
  serveRange,
} from '@kithara/storage'
import anyTest, { type TestFn } from 'ava'
import { generateBytes } from '../../examples/server.js'
import { curl, listen, parseMultipart, pendingWaits, turns } from './util.js'

const test = anyTest as TestFn<{ dir: string; file: MmapResource; base: string; close: () => void }>
// Files (MmapResource) need the native backend; under KITHARA_STORAGE_BACKEND=wasm these are skipped.
const native = backendName() === 'native'
const serial = native ? test.serial : test.serial.skip

const MiB = 1024 * 1024
const data = generateBytes(MiB + 333, 41)
const size = data.length
const lastModified = new Date('2024-05-01T10:00:00Z')

test.before(async (t) => {
  if (!native) return
  t.context.dir = mkdtempSync(join(tmpdir(), 'kithara-serve-'))
  const file = MmapResource.open(new CancellationToken(), { path: join(t.context.dir, 'committed.bin') })
  file.writeAll(data)
  t.context.file = file
  const closers: Array<() => void> = []
  const { base } = await listen({ teardown: (fn) => closers.push(fn) }, (req, res) => {
    void serveRange(req, res, file, { etag: 'v1', lastModified, contentType: 'video/mp4' })
  })
  t.context.base = base
  t.context.close = () => {
    for (const c of closers) c()
  }
})

test.after.always((t) => {
  t.context.close?.()
  t.context.file?.close()
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true })
})

serial('whole file: 200 with length, type and validators', async (t) => {
  const r = await curl([`${t.context.base}/`])
  t.is(r.status, 200)
  t.is(r.headers['content-length'], String(size))
  t.is(r.headers['accept-ranges'], 'bytes')
  t.is(r.headers['content-type'], 'video/mp4')
  t.is(r.headers.etag, '"v1"')
  t.is(r.headers['last-modified'], lastModified.toUTCString())
  t.true(r.body.equals(data))
})

serial('single, suffix and open-ended ranges: 206 with the exact bytes', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['100-199', 100, 200],
    ['-300', size - 300, size],
    ['1048000-', 1048000, size],
    [`0-${size + 1000}`, 0, size],
    ['-99999999', 0, size],
  ]
  for (const [spec, start, end] of cases) {
    const r = await curl(['-r', spec, `${t.context.base}/`])
    t.is(r.status, 206, spec)
    t.is(r.headers['content-range'], `bytes ${start}-${end - 1}/${size}`, spec)
    t.is(r.headers['content-length'], String(end - start), spec)
    t.true(r.body.equals(data.subarray(start, end)), spec)
  }
})

serial('several ranges: multipart/byteranges, each part with its Content-Range', async (t) => {
  const r = await curl(['-r', '0-9,500-599,-50', `${t.context.base}/`])
  t.is(r.status, 206)
  const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(r.headers['content-type'] ?? '')?.[1]
  t.truthy(boundary, r.headers['content-type'])
  t.is(r.headers['content-length'], String(r.body.length), 'Content-Length counts the framing exactly')
  const parts = parseMultipart(r.body, boundary as string)
  const expected: Array<[number, number]> = [
    [0, 10],
    [500, 600],
    [size - 50, size],
  ]
  t.is(parts.length, expected.length)
  parts.forEach((p, i) => {
    const [start, end] = expected[i]
    t.is(p.headers['content-type'], 'video/mp4')
    t.is(p.headers['content-range'], `bytes ${start}-${end - 1}/${size}`)
    t.true(p.body.equals(data.subarray(start, end)))
  })
})

serial('unsatisfiable: 416 with Content-Range bytes */length', async (t) => {
  const r = await curl(['-r', `${size}-`, `${t.context.base}/`])
  t.is(r.status, 416)
  t.is(r.headers['content-range'], `bytes */${size}`)
  t.is(r.body.length, 0)
})

serial('HEAD: the headers of the GET, no body', async (t) => {
  const whole = await curl(['-I', `${t.context.base}/`])
  t.is(whole.status, 200)
  t.is(whole.headers['content-length'], String(size))
  t.is(whole.body.length, 0)
  const ranged = await curl(['-I', '-r', '10-19', `${t.context.base}/`])
  t.is(ranged.status, 206)
  t.is(ranged.headers['content-range'], `bytes 10-19/${size}`)
  t.is(ranged.headers['content-length'], '10')
})

serial('If-Range: a matching strong ETag or exact date gets the range; anything else the whole file', async (t) => {
  const ask = (ifRange: string) => curl(['-r', '0-9', '-H', `If-Range: ${ifRange}`, `${t.context.base}/`])
  const match = await ask('"v1"')
  t.is(match.status, 206)
  t.true(match.body.equals(data.subarray(0, 10)))
  const date = await ask(lastModified.toUTCString())
  t.is(date.status, 206)
  for (const other of ['"v2"', 'W/"v1"', new Date(lastModified.getTime() + 1000).toUTCString()]) {
    const r = await ask(other)
    t.is(r.status, 200, other)
    t.true(r.body.equals(data), other)
  }
})

serial('bytes that arrive while the client waits are sent as they land', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const { base } = await listen(t, (req, res) => void serveRange(req, res, r, { size }))
  const got = curl(['-r', '1000-1999', `${base}/`])
  // curl is connected and waiting; nothing is there yet.
  while (pendingWaits() === 0) await new Promise((res) => setTimeout(res, 5))
  r.writeAt(1000, data.subarray(1000, 1500))
  r.writeAt(1500, data.subarray(1500, 2000))
  const res = await got
  t.is(res.status, 206)
  t.true(res.body.equals(data.subarray(1000, 2000)))
  t.is(pendingWaits(), 0)
})

serial('a client that gives up while waiting: its wait is withdrawn and its demand released', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const demands: Array<{ start: number; end: number; released: boolean }> = []
  // The smallest thing serveRange needs from a download: its origin and demand().
  const fakeDownload = {
    origin: Promise.resolve({ size, etag: null, lastModified: null, contentType: null, rangeSupported: true }),
    demand(start: number, end: number) {
      const d = { start, end, released: false }
      demands.push(d)
      return () => {
        d.released = true
      }
    },
  } as unknown as Download
  let served!: (r: ServeResult) => void
  const result = new Promise<ServeResult>((resolve) => {
    served = resolve
  })
  const { base } = await listen(t, (req, res) => {
    void serveRange(req, res, r, { download: fakeDownload }).then(served)
  })
  const before = pendingWaits()
  const gaveUp = await curl(['--max-time', '0.5', '-r', '5000-5999', `${base}/`])
  t.is(gaveUp.exit, 28, 'curl timed out')
  // Bounded: a wait that is never withdrawn would keep serveRange pending forever.
  const outcome = await Promise.race([
    result,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('serveRange still pending')), 10_000)),
  ])
  t.false(outcome.completed)
  t.is(outcome.status, 206)
  await turns()
  t.is(pendingWaits(), before, 'no wait left behind')
  t.deepEqual(demands, [{ start: 5000, end: 6000, released: true }])
  // The resource is untouched and still serves.
  t.deepEqual(r.status(), { kind: 'active' })
})

serial('a slow client: after a write returns false, the next write waits for drain', async (t) => {
  const big = generateBytes(8 * MiB, 42)
  const r = MemResource.open(new CancellationToken(), { initialData: big })
  const events: string[] = []
  const { base } = await listen(t, (req, res) => {
    const write = res.write.bind(res) as (chunk: Uint8Array) => boolean
    res.write = ((chunk: Uint8Array) => {
      const ok = write(chunk)
      events.push(ok ? 'write' : 'write-full')
      return ok
    }) as typeof res.write
    res.on('drain', () => events.push('drain'))
    void serveRange(req, res, r)
  })
  const got = await curl(['--limit-rate', '4M', `${base}/`])
  t.true(got.body.equals(big))
  t.true(events.includes('write-full'), 'the socket pushed back at least once')
  for (let i = 0; i < events.length - 1; i++) {
    if (events[i] === 'write-full') t.is(events[i + 1], 'drain', `event ${i + 1} after a full write`)
  }
})
