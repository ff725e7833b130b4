/**
 * The package's `download()` against real origins: Debian's nginx (Range,
 * If-Range, ETag, limit_rate) and a node:http origin that misbehaves on
 * purpose (origin.ts). Every claim the resource makes is checked against the
 * origin's bytes; order of arrival, not time, proves demand priority.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ByteRange,
  CancellationToken,
  type DownloadError,
  type DownloadProgress,
  MemResource,
  MmapResource,
  Resource,
  type ResourceBase,
  StorageError,
  backendName,
  download,
  respondRange,
} from '@kithara/storage'
import anyTest, { type ExecutionContext, type TestFn } from 'ava'
import { generateBytes } from '../../examples/server.js'
import { type Nginx, type ServedFile, makeFile, startNginx } from './nginx.js'
import { startOrigin } from './origin.js'

const MiB = 1024 * 1024
const test = anyTest as TestFn<{ nginx: Nginx; dir: string }>
// Files (MmapResource) need the native backend; under KITHARA_STORAGE_BACKEND=wasm these are skipped.
const native = backendName() === 'native'
const serial = native ? test.serial : test.serial.skip

// 1 MiB/s per connection on /slow/: long enough to interrupt, swap or overtake.
const SLOW_RATE = '1m'
const plain = makeFile('plain.bin', 5 * MiB + 4321, 21)
const resumable = makeFile('resumable.bin', 8 * MiB + 17, 22)
const swapped = makeFile('swapped.bin', 8 * MiB, 23)
const swappedLater = makeFile('swapped-later.bin', 4 * MiB, 24)
const demanded = makeFile('demanded.bin', 8 * MiB + 99, 25)

test.before(async (t) => {
  if (!native) return
  t.context.dir = mkdtempSync(join(tmpdir(), 'kithara-downloader-'))
  t.context.nginx = await startNginx(
    join(t.context.dir, 'nginx'),
    [plain, resumable, swapped, swappedLater, demanded],
    SLOW_RATE,
  )
})

test.after.always(async (t) => {
  await t.context.nginx?.stop()
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true })
})

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
let fileNo = 0
const tempFile = (t: ExecutionContext<{ dir: string }>): string => join(t.context.dir, `dl-${fileNo++}.bin`)
const openFile = (path: string): MmapResource =>
  MmapResource.open(new CancellationToken(), { path, persistRanges: true })

/** Checks every byte `r` claims against `data`; returns how many it claims. */
function assertClaimsTrue(t: ExecutionContext, r: ResourceBase, data: Buffer): number {
  let bytes = 0
  for (const range of r.ranges()) {
    const buf = Buffer.alloc(range.end - range.start)
    r.readAt(range.start, buf)
    t.true(buf.equals(data.subarray(range.start, range.end)), `bytes ${range.start}..${range.end} are the origin's`)
    bytes += range.end - range.start
  }
  return bytes
}

/** Access-log lines (`<uri> "<range>" <status> <bytes>`) for `uri`. */
function logFor(nginx: Nginx, uri: string): Array<{ range: string; status: number; bytes: number }> {
  return nginx
    .accessLog()
    .filter((l) => l.startsWith(`${uri} `))
    .map((l) => {
      const m = /^\S+ "([^"]*)" (\d+) (\d+)$/.exec(l)
      if (!m) throw new Error(`unexpected log line ${l}`)
      return { range: m[1], status: Number(m[2]), bytes: Number(m[3]) }
    })
}

/** `bytes=a-b` as a half-open range. */
function asRange(header: string): ByteRange {
  const m = /^bytes=(\d+)-(\d+)$/.exec(header)
  if (!m) throw new Error(`not a closed range: ${header}`)
  return { start: Number(m[1]), end: Number(m[2]) + 1 }
}

/** Resolves with the first progress report that satisfies `pred`. */
function progressWhere(pred: (p: DownloadProgress) => boolean): {
  onProgress: (p: DownloadProgress) => void
  reached: Promise<DownloadProgress>
} {
  let resolve!: (p: DownloadProgress) => void
  const reached = new Promise<DownloadProgress>((r) => {
    resolve = r
  })
  return {
    onProgress: (p) => {
      if (pred(p)) resolve(p)
    },
    reached,
  }
}

serial('fills a file from nginx over parallel Range requests, each byte fetched once, and commits it', async (t) => {
  const { nginx } = t.context
  const r = openFile(tempFile(t))
  const progress: DownloadProgress[] = []
  const result = await download(`${nginx.base}/${plain.name}`, r, {
    connections: 4,
    pieceSize: 256 * 1024,
    onProgress: (p) => progress.push(p),
  })
  t.deepEqual(r.status(), { kind: 'committed', finalLen: plain.data.length })
  t.is(sha256(r.readAll()), plain.sha256)
  t.is(result.size, plain.data.length)
  t.is(result.fetchedBytes, plain.data.length)
  t.is(result.resumedBytes, 0)
  t.true(result.rangeSupported)
  t.regex(result.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, "nginx's ETag")
  t.is(result.validator, result.etag)
  t.is(result.requests, Math.ceil(plain.data.length / (256 * 1024)))
  await new Promise((res) => setTimeout(res, 50))
  const log = logFor(nginx, `/${plain.name}`)
  t.is(log.length, result.requests)
  t.true(log.every((l) => l.status === 206))
  t.is(
    log.reduce((n, l) => n + l.bytes, 0),
    plain.data.length,
    'the origin sent each byte once',
  )
  t.deepEqual(progress.at(-1), {
    fetchedBytes: plain.data.length,
    presentBytes: plain.data.length,
    totalBytes: plain.data.length,
  })
  r.close()
})

serial('an interrupted download resumes: only the gaps are fetched (nginx access log)', async (t) => {
  const { nginx } = t.context
  const size = resumable.data.length
  const path = tempFile(t)
  const first = openFile(path)
  const stop = new AbortController()
  const half = progressWhere((p) => p.presentBytes >= size / 2)
  const job = download(`${nginx.base}/slow/${resumable.name}`, first, {
    connections: 4,
    pieceSize: 512 * 1024,
    signal: stop.signal,
    onProgress: half.onProgress,
  })
  const { etag } = await job.origin
  await half.reached
  const reason = new Error('stop half-way')
  stop.abort(reason)
  t.is(await t.throwsAsync(job), reason)
  t.deepEqual(first.status(), { kind: 'active' }, 'an abort leaves the resource active')
  first.close()

  const second = openFile(path)
  const kept = assertClaimsTrue(t, second, resumable.data)
  t.true(kept >= size / 2 && kept < size, `kept ${kept}`)
  const gaps: ByteRange[] = []
  for (let at = 0, g = second.nextGap(0, size); g !== null; at = g.end, g = second.nextGap(at, size)) gaps.push(g)
  const result = await download(`${nginx.base}/${resumable.name}`, second, {
    connections: 3,
    pieceSize: 512 * 1024,
    validator: etag ?? undefined,
  })
  t.is(result.resumedBytes, kept)
  t.is(result.fetchedBytes, size - kept)
  t.is(sha256(second.readAll()), resumable.sha256)
  await new Promise((res) => setTimeout(res, 50))
  const log = logFor(nginx, `/${resumable.name}`)
  t.true(log.length > 0)
  t.is(
    log.reduce((n, l) => n + l.bytes, 0),
    size - kept,
    'nginx sent exactly the missing bytes',
  )
  for (const l of log) {
    const asked = asRange(l.range)
    t.true(
      gaps.some((g) => g.start <= asked.start && asked.end <= g.end),
      `${l.range} lies in a gap`,
    )
  }
  second.close()
})

serial('resume from a partial file: every request lies inside a gap, the gaps are fetched whole', async (t) => {
  const { nginx } = t.context
  const size = plain.data.length
  const r = openFile(tempFile(t))
  // Gaps smaller and larger than a piece, a present byte at the very end.
  const present: ByteRange[] = [
    { start: 0, end: 100_000 },
    { start: 300_000, end: 1_000_000 },
    { start: 3_000_000, end: 3_100_000 },
    { start: size - 1, end: size },
  ]
  for (const p of present) r.writeAt(p.start, plain.data.subarray(p.start, p.end))
  const kept = present.reduce((n, p) => n + (p.end - p.start), 0)
  const gaps = [
    { start: 100_000, end: 300_000 },
    { start: 1_000_000, end: 3_000_000 },
    { start: 3_100_000, end: size - 1 },
  ]
  const before = logFor(nginx, `/${plain.name}`).length
  const result = await download(`${nginx.base}/${plain.name}`, r, { connections: 3, pieceSize: 512 * 1024 })
  t.is(result.resumedBytes, kept)
  t.is(result.fetchedBytes, size - kept)
  t.is(sha256(r.readAll()), plain.sha256)
  await new Promise((res) => setTimeout(res, 50))
  const log = logFor(nginx, `/${plain.name}`).slice(before)
  for (const l of log) {
    const asked = asRange(l.range)
    t.true(
      gaps.some((g) => g.start <= asked.start && asked.end <= g.end),
      `${l.range} lies in a gap`,
    )
  }
  t.is(
    log.reduce((n, l) => n + l.bytes, 0),
    size - kept,
  )
  r.close()
})

/** Replaces `file` under nginx the way deployments do (a new inode, a new mtime, so a new ETag). */
function replaceUnderNginx(nginx: Nginx, file: ServedFile, data: Buffer): void {
  const target = join(nginx.dir, 'www', file.name)
  const tmp = `${target}.new`
  writeFileSync(tmp, data)
  const later = new Date(Date.now() + 3_600_000)
  utimesSync(tmp, later, later)
  renameSync(tmp, target)
}

serial(
  'a file replaced under nginx mid-download: ERR_DOWNLOAD_CHANGED, and no byte of the new file is written',
  async (t) => {
    const { nginx } = t.context
    const size = swapped.data.length
    const path = tempFile(t)
    const r = openFile(path)
    const started = progressWhere((p) => p.presentBytes >= MiB)
    const job = download(`${nginx.base}/slow/${swapped.name}`, r, {
      connections: 4,
      pieceSize: 256 * 1024,
      onProgress: started.onProgress,
    })
    await started.reached
    const replacement = generateBytes(size, 99)
    replaceUnderNginx(nginx, swapped, replacement)
    const err = await t.throwsAsync<DownloadError>(job)
    t.is(err?.name, 'DownloadError')
    t.is(err?.code, 'ERR_DOWNLOAD_CHANGED')
    t.is(r.status().kind, 'failed', 'waiting readers are told')
    r.close()
    // What the record kept is the old file's, and only it.
    const again = openFile(path)
    const kept = assertClaimsTrue(t, again, swapped.data)
    t.true(kept >= MiB && kept < size, `kept ${kept} bytes of the old file`)
    again.close()
  },
)

serial(
  'resuming against a file that changed in between: the validator kept in the record catches it at once',
  async (t) => {
    const { nginx } = t.context
    const size = swappedLater.data.length
    const path = tempFile(t)
    const first = openFile(path)
    const stop = new AbortController()
    const some = progressWhere((p) => p.presentBytes >= MiB)
    const job = download(`${nginx.base}/slow/${swappedLater.name}`, first, {
      connections: 2,
      pieceSize: 256 * 1024,
      signal: stop.signal,
      onProgress: some.onProgress,
    })
    const { etag } = await job.origin
    await some.reached
    stop.abort(new Error('pause'))
    await t.throwsAsync(job)
    first.close()

    replaceUnderNginx(nginx, swappedLater, generateBytes(size, 77))
    const second = openFile(path)
    const keptBefore = assertClaimsTrue(t, second, swappedLater.data)
    // The first run kept the origin's validator and URL with the ranges: nothing to pass by hand.
    t.is(second.metadata().etag, etag ?? undefined)
    t.is(second.metadata().url, `${nginx.base}/slow/${swappedLater.name}`)
    t.is(second.len(), size, 'and the length it told')
    const err = await t.throwsAsync<DownloadError>(download(`${nginx.base}/${swappedLater.name}`, second))
    t.is(err?.code, 'ERR_DOWNLOAD_CHANGED')
    second.close()
    const third = openFile(path)
    t.is(assertClaimsTrue(t, third, swappedLater.data), keptBefore, 'nothing new was written')
    third.close()
  },
)

serial('demand priority: a waited-for tail arrives before the middle of the file', async (t) => {
  const { nginx } = t.context
  const size = demanded.data.length
  const r = openFile(tempFile(t))
  const job = download(`${nginx.base}/slow/${demanded.name}`, r, { connections: 2, pieceSize: 256 * 1024 })
  const tail = { start: size - 100_000, end: size }
  // A reader far ahead: it waits, and tells the download what it waits for.
  const release = job.demand(tail.start, tail.end)
  t.is(await r.waitRange(tail.start, tail.end), 'ready')
  const when = job.progress()
  release()
  t.true(when.presentBytes < size / 2, `only ${when.presentBytes} of ${size} bytes were there when the tail arrived`)
  const middle = Math.floor(size / 2)
  t.false(r.containsRange(middle, middle + 1), 'the middle had not arrived')
  const result = await job
  t.is(result.fetchedBytes, size)
  t.is(sha256(r.readAll()), demanded.sha256)
  r.close()
})

serial('a waitRange or read stream on the resource pulls its bytes forward by itself (the demand hook)', async (t) => {
  const { nginx } = t.context
  const size = demanded.data.length
  const r = openFile(tempFile(t))
  const job = download(`${nginx.base}/slow/${demanded.name}`, r, { connections: 2, pieceSize: 256 * 1024 })
  // No job.demand(): the waits tell the download themselves, through twins too.
  const twin = Resource.fromShared(r.share())
  const tail = twin.waitRange(size - 100_000, size)
  const streamed: Buffer[] = []
  const stream = r.createReadStream({ start: size - 300_000, end: size - 200_000 })
  stream.on('data', (c: Buffer) => streamed.push(c))
  const streamEnded = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject))
  t.is(await tail, 'ready')
  await streamEnded
  const when = job.progress()
  t.true(when.presentBytes < size / 2, `only ${when.presentBytes} of ${size} bytes were there when both arrived`)
  t.true(Buffer.concat(streamed).equals(demanded.data.subarray(size - 300_000, size - 200_000)))
  await job
  t.is(sha256(r.readAll()), demanded.sha256)
  r.close()
})

serial('a restarted proxy serves the validators the download kept: same ETag, Last-Modified and type', async (t) => {
  const { nginx } = t.context
  const path = tempFile(t)
  const first = openFile(path)
  const result = await download(`${nginx.base}/${plain.name}`, first)
  const fresh = await respondRange(new Request('http://proxy/p', { headers: { range: 'bytes=0-9' } }), first)
  await fresh.arrayBuffer()
  first.close()
  // A new process: no download object, only the file and its record.
  const reopened = openFile(path)
  const after = await respondRange(new Request('http://proxy/p', { headers: { range: 'bytes=0-9' } }), reopened)
  t.is(after.status, 206)
  t.is(after.headers.get('etag'), result.etag)
  t.is(after.headers.get('etag'), fresh.headers.get('etag'))
  t.is(after.headers.get('last-modified'), fresh.headers.get('last-modified'))
  t.is(after.headers.get('content-type'), result.contentType)
  t.truthy(result.lastModified)
  // If-Range with the kept ETag still gets the range, not the whole file.
  const conditional = await respondRange(
    new Request('http://proxy/p', { headers: { range: 'bytes=0-9', 'if-range': result.etag ?? '' } }),
    reopened,
  )
  t.is(conditional.status, 206)
  await Promise.all([after, conditional].map((r) => r.arrayBuffer()))
  reopened.close()
})

serial('a demand preempts a running request: one connection, one piece for the whole file', async (t) => {
  const { nginx } = t.context
  const size = demanded.data.length
  const r = openFile(tempFile(t))
  // Without preemption the only connection would fetch the whole file before the tail.
  const job = download(`${nginx.base}/slow/${demanded.name}`, r, { connections: 1, pieceSize: size })
  await job.origin
  const release = job.demand(size - 1000, size)
  t.is(await r.waitRange(size - 1000, size), 'ready')
  const when = job.progress()
  release()
  t.true(when.presentBytes < size / 2, `only ${when.presentBytes} of ${size} bytes were there when the tail arrived`)
  const result = await job
  t.is(sha256(r.readAll()), demanded.sha256)
  t.true(result.requests >= 3, 'the first request was cut, the tail fetched, the rest asked again')
  r.close()
})

serial(
  'an origin that drops every connection part-way: retried from where it broke, each byte fetched once',
  async (t) => {
    const data = generateBytes(2 * MiB + 5, 31)
    const origin = await startOrigin(data, { dropAfter: 100_000 })
    t.teardown(() => origin.close())
    const r = MemResource.open(new CancellationToken())
    const result = await download(origin.url, r, { connections: 3, pieceSize: 256 * 1024, retries: 1 })
    t.true(r.readAll().equals(data))
    t.is(result.fetchedBytes, data.length, 'no arrived byte asked for again')
    t.true(result.retries >= 10, `${result.retries} retries`)
    // Each retry asked for the rest of its piece only.
    const asked = origin.requests.map((q) => asRange(q.range ?? ''))
    t.true(asked.every((a) => a.end - a.start <= 256 * 1024))
  },
)

serial('an origin that caps range sizes: shorter answers are taken as they are, not retried', async (t) => {
  const data = generateBytes(MiB, 37)
  const origin = await startOrigin(data, { capRange: 100_000 })
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken())
  const result = await download(origin.url, r, { connections: 2, pieceSize: 256 * 1024, retries: 0 })
  t.true(r.readAll().equals(data))
  t.is(result.retries, 0)
  t.is(result.fetchedBytes, data.length)
  t.true(origin.requests.every((q) => q.status === 206))
})

serial('503s, then it works: retried with backoff', async (t) => {
  const data = generateBytes(300_000, 32)
  const origin = await startOrigin(data, { failFirst: 2 })
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken())
  const result = await download(origin.url, r, { retries: 2 })
  t.true(r.readAll().equals(data))
  t.is(result.retries, 2)
  t.deepEqual(
    origin.requests.slice(0, 3).map((q) => q.status),
    [503, 503, 206],
  )
})

serial(
  'an origin that keeps failing: ERR_DOWNLOAD_HTTP with the status; waiting readers get ERR_STORAGE_FAILED',
  async (t) => {
    const origin = await startOrigin(Buffer.alloc(10), { failFirst: 1000 })
    t.teardown(() => origin.close())
    const r = MemResource.open(new CancellationToken())
    const waiting = r.waitRange(0, 10, { timeoutMs: 20_000 })
    const err = await t.throwsAsync<DownloadError>(download(origin.url, r, { retries: 1 }))
    t.is(err?.code, 'ERR_DOWNLOAD_HTTP')
    t.is(err?.status, 503)
    t.is(origin.requests.length, 2, 'one try and one retry')
    const waitErr = await t.throwsAsync<StorageError>(waiting)
    t.true(waitErr instanceof StorageError)
    t.is(waitErr?.code, 'ERR_STORAGE_FAILED')
  },
)

serial('404 is not retried; a later download() on the failed resource reactivates it', async (t) => {
  const data = generateBytes(1000, 33)
  const origin = await startOrigin(data)
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken())
  const err = await t.throwsAsync<DownloadError>(download(origin.url.replace('/file', '/missing'), r))
  t.is(err?.code, 'ERR_DOWNLOAD_HTTP')
  t.is(err?.status, 404)
  t.is(r.status().kind, 'failed')
  await download(origin.url, r)
  t.true(r.readAll().equals(data))
})

serial('an unreachable origin: ERR_DOWNLOAD_NETWORK after the retries, with the cause', async (t) => {
  const origin = await startOrigin(Buffer.alloc(1))
  const url = origin.url
  await origin.close()
  const r = MemResource.open(new CancellationToken())
  const err = await t.throwsAsync<DownloadError>(download(url, r, { retries: 1 }))
  t.is(err?.code, 'ERR_DOWNLOAD_NETWORK')
  t.truthy(err?.cause)
})

serial(
  'an origin without Range support: one sequential stream from byte 0, even over a partial resource',
  async (t) => {
    const data = generateBytes(3 * MiB + 1, 34)
    const origin = await startOrigin(data, { ranges: false })
    t.teardown(() => origin.close())
    const r = MemResource.open(new CancellationToken())
    r.writeAt(MiB, data.subarray(MiB, 2 * MiB))
    const result = await download(origin.url, r, { connections: 4, pieceSize: 64 * 1024 })
    t.false(result.rangeSupported)
    t.is(result.requests, 1)
    t.is(result.resumedBytes, 0)
    t.is(result.size, data.length)
    t.true(r.readAll().equals(data))
  },
)

serial('no total length (bytes a-b/*): open-ended stream, committed where the body ends', async (t) => {
  const data = generateBytes(MiB + 3, 35)
  const origin = await startOrigin(data, { unknownTotal: true })
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken())
  const result = await download(origin.url, r, { pieceSize: 100_000 })
  t.is(result.size, data.length)
  t.true(r.readAll().equals(data))
  t.deepEqual(
    origin.requests.map((q) => q.range),
    ['bytes=0-99999', 'bytes=100000-'],
  )
})

serial('a compressed answer is refused (its bytes are not the file)', async (t) => {
  const origin = await startOrigin(generateBytes(5000, 36), { gzip: true })
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken())
  const err = await t.throwsAsync<DownloadError>(download(origin.url, r))
  t.is(err?.code, 'ERR_DOWNLOAD_HTTP')
  t.is(origin.requests[0].range, 'bytes=0-1048575')
  t.false(r.containsRange(0, 1))
})

serial('a committed resource downloads nothing', async (t) => {
  const origin = await startOrigin(Buffer.alloc(10))
  t.teardown(() => origin.close())
  const r = MemResource.open(new CancellationToken(), { initialData: Buffer.from('done') })
  const result = await download(origin.url, r)
  t.is(result.requests, 0)
  t.is(result.resumedBytes, 4)
  t.is(origin.requests.length, 0)
})

test('bad arguments throw at once with Node codes', (t) => {
  const r = MemResource.open(new CancellationToken())
  const code = (fn: () => unknown): unknown => (t.throws(fn) as { code?: string }).code
  t.is(
    code(() => download('ftp://x/y', r)),
    'ERR_INVALID_ARG_VALUE',
  )
  t.is(
    code(() => download('not a url', r)),
    'ERR_INVALID_URL',
  )
  t.is(
    code(() => download('http://x/', {} as never)),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    code(() => download('http://x/', r, { connections: 0 })),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => download('http://x/', r, { pieceSize: -1 })),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => download('http://x/', r, { onProgress: 1 as never })),
    'ERR_INVALID_ARG_TYPE',
  )
})
