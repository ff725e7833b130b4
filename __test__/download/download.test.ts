/**
 * Progressive downloads with the package's `download()` against a real
 * origin (Debian's nginx): parallel Range pieces into an mmap resource while
 * readers consume it in order; resume after an interrupted download; dropped
 * connections. (The downloader's own behaviours are in downloader.test.ts.)
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Worker } from 'node:worker_threads'
import {
  CancellationToken,
  type DownloadProgress,
  MmapResource,
  type ResourceBase,
  backendName,
  download,
} from '@kithara/storage'
import anyTest, { type TestFn } from 'ava'
import { type Nginx, type ServedFile, makeFile, startNginx } from './nginx.js'

const MiB = 1024 * 1024
const test = anyTest as TestFn<{ nginx: Nginx; big: ServedFile; small: ServedFile; dir: string }>
// Files (MmapResource) need the native backend; under KITHARA_STORAGE_BACKEND=wasm these are skipped.
const native = backendName() === 'native'
const serial = native ? test.serial : test.serial.skip

const big = makeFile('big.bin', 32 * MiB, 1)
const small = makeFile('small.bin', 4 * MiB + 123, 2)

test.before(async (t) => {
  if (!native) return
  const dir = mkdtempSync(join(tmpdir(), 'kithara-nginx-'))
  t.context.dir = dir
  t.context.big = big
  t.context.small = small
  t.context.nginx = await startNginx(join(dir, 'nginx'), [big, small])
})

test.after.always(async (t) => {
  await t.context.nginx?.stop()
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true })
})

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
let fileNo = 0
const tempFile = (t: { context: { dir: string } }): string => join(t.context.dir, `out-${fileNo++}.bin`)

/** Opens a fresh resumable mmap resource of `size` bytes. */
function openFile(path: string, size: number): MmapResource {
  return MmapResource.open(new CancellationToken(), { path, initialLen: size, persistRanges: true })
}

/** Checks that every byte `r` claims to have equals the origin's. */
function assertClaimsTrue(t: { true(v: boolean, m?: string): void }, r: ResourceBase, file: ServedFile): number {
  let bytes = 0
  for (const range of r.ranges()) {
    const buf = Buffer.alloc(range.end - range.start)
    r.readAt(range.start, buf)
    t.true(buf.equals(file.data.subarray(range.start, range.end)), `bytes ${range.start}..${range.end} match`)
    bytes += range.end - range.start
  }
  return bytes
}

/** Runs the in-order reader worker of the demo on `r`. */
function startReader(r: ResourceBase, size: number): Promise<{ kind: string; sha256?: string; bytes: number }> {
  const worker = new Worker(join(__dirname, '../../examples/reader-worker.mjs'), {
    workerData: { handle: r.share(), size, chunk: 256 * 1024, position: new SharedArrayBuffer(8) },
  })
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => {
      resolve(m)
      void worker.terminate()
    })
    worker.once('error', reject)
  })
}

/** An `onProgress` that resolves `reached` the first time `cond` holds. */
function progressWhere(cond: (p: DownloadProgress) => boolean) {
  let hit!: () => void
  const reached = new Promise<void>((resolve) => {
    hit = resolve
  })
  return { reached, onProgress: (p: DownloadProgress) => cond(p) && hit() }
}

serial('parallel Range download into mmap, in-order worker reader, hashes equal', async (t) => {
  const { nginx } = t.context
  const size = big.data.length
  const r = openFile(tempFile(t), size)
  let written = 0
  r.on('write', ({ start, end }) => {
    written += end - start
  })
  const committed = new Promise<number>((resolve) => r.once('commit', ({ finalLen }) => resolve(finalLen)))
  const reader = startReader(r, size)
  const result0 = await download(`${nginx.base}/${big.name}`, r, { connections: 4, pieceSize: MiB })
  t.is(result0.size, size)
  t.is(result0.fetchedBytes, size)
  t.true(result0.requests >= 32, `${result0.requests} requests of at most a piece`)
  const result = await reader
  t.is(result.kind, 'done')
  t.is(result.bytes, size)
  t.is(result.sha256, big.sha256)
  t.is(await committed, size)
  t.is(written, size, "'write' events cover every byte once")
  t.is(sha256(r.readAll()), big.sha256)
  r.close()
})

serial('createReadStream piped into a hash while pieces land', async (t) => {
  const { nginx } = t.context
  const size = big.data.length
  const r = openFile(tempFile(t), size)
  const hash = createHash('sha256')
  let chunks = 0
  const piped = pipeline(
    r.createReadStream({ highWaterMark: 128 * 1024 }),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        chunks++
        yield chunk
      }
    },
    hash,
  )
  let largest = 0
  const sized = pipeline(r.createReadStream({ highWaterMark: 128 * 1024 }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) largest = Math.max(largest, chunk.length)
  })
  await download(`${nginx.base}/${big.name}`, r, { connections: 3, pieceSize: MiB })
  await Promise.all([piped, sized])
  t.is(hash.digest('hex'), big.sha256)
  // Each chunk is what was present, up to the highWaterMark.
  t.true(chunks >= size / (128 * 1024), `${chunks} chunks`)
  t.is(largest, 128 * 1024)
  r.close()
})

serial('range streams with start and end, on an active and on a committed resource', async (t) => {
  const { nginx } = t.context
  const file = small
  const size = file.data.length
  const r = openFile(tempFile(t), size)
  const collect = async (s: Readable): Promise<Buffer> => {
    const parts: Buffer[] = []
    for await (const c of s) parts.push(c as Buffer)
    return Buffer.concat(parts)
  }
  // Started before any byte exists: they wait for exactly their ranges.
  const middle = collect(r.createReadStream({ start: 1_000_001, end: 3_000_003, highWaterMark: 100_000 }))
  const tail = collect(r.createReadStream({ start: size - 5000 }))
  const empty = collect(r.createReadStream({ start: 10, end: 10 }))
  await download(`${nginx.base}/${file.name}`, r, { pieceSize: 512 * 1024 })
  t.true((await middle).equals(file.data.subarray(1_000_001, 3_000_003)))
  t.is((await empty).length, 0)
  t.true((await tail).equals(file.data.subarray(size - 5000)))
  // Committed: an end past the final length stops at it; a start past it is empty.
  t.true(
    (await collect(r.createReadStream({ start: size - 10, end: size + 1000 }))).equals(file.data.subarray(size - 10)),
  )
  t.is((await collect(r.createReadStream({ start: size + 1 }))).length, 0)
  r.close()
})

serial('createWriteStream fed by an HTTP response, then read back', async (t) => {
  const { nginx } = t.context
  const file = small
  const r = MmapResource.open(new CancellationToken(), { path: tempFile(t) })
  const res = await fetch(`${nginx.base}/${file.name}`)
  t.is(res.status, 200)
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)
  const committed = new Promise<number>((resolve) => r.once('commit', ({ finalLen }) => resolve(finalLen)))
  await pipeline(body, r.createWriteStream())
  t.deepEqual(r.status(), { kind: 'committed', finalLen: file.data.length })
  t.is(await committed, file.data.length)
  t.is(sha256(r.readAll()), file.sha256)
  // Streamed back out, whole.
  const hash = createHash('sha256')
  await pipeline(r.createReadStream(), hash)
  t.is(hash.digest('hex'), file.sha256)
  r.close()
})

serial('an interrupted download resumes after reopen: earlier pieces kept, only the gaps fetched', async (t) => {
  const { nginx } = t.context
  const file = small
  const size = file.data.length
  const path = tempFile(t)
  const first = openFile(path, size)
  const stop = new AbortController()
  const half = progressWhere((p) => p.presentBytes >= size / 2)
  const interrupted = download(`${nginx.base}/slow/${file.name}`, first, {
    connections: 4,
    pieceSize: 256 * 1024,
    signal: stop.signal,
    onProgress: half.onProgress,
  })
  await half.reached
  stop.abort(new Error('stop half-way'))
  await t.throwsAsync(interrupted, { message: 'stop half-way' })
  const done = first.ranges()
  first.close()

  const second = openFile(path, size)
  t.deepEqual(second.status(), { kind: 'active' })
  t.deepEqual(second.ranges(), done, 'every piece remembered')
  t.is(second.len(), size, 'the length the origin told is remembered too')
  const kept = assertClaimsTrue(t, second, file)
  t.is(kept, second.presentBytes())
  t.true(kept >= size / 2)
  t.true(kept < size)
  const logBefore = nginx.accessLog().length
  // No validator passed: the one the first run kept in the record is sent.
  const result = await download(`${nginx.base}/${file.name}`, second, { connections: 3, pieceSize: 256 * 1024 })
  t.is(result.resumedBytes, kept)
  t.is(result.fetchedBytes, size - kept, 'only the gaps are requested')
  // The origin agrees: it sent exactly the missing bytes.
  await new Promise((r) => setTimeout(r, 50))
  const sent = nginx
    .accessLog()
    .slice(logBefore)
    .reduce((n, line) => n + Number(line.split(' ').at(-1)), 0)
  t.is(sent, size - kept)
  t.is(sha256(second.readAll()), file.sha256)
  second.close()

  // Committed reopens committed.
  const third = openFile(path, size)
  t.deepEqual(third.status(), { kind: 'committed', finalLen: size })
  third.close()
})

serial('a connection dropped mid-piece leaves no range marked that was not written', async (t) => {
  const file = small
  const size = file.data.length
  // Its own nginx, so that killing it drops the connections of this test only.
  const slow = await startNginx(join(t.context.dir, 'nginx-slow'), [file], '1m')
  t.teardown(() => slow.stop())
  const path = tempFile(t)
  const r = openFile(path, size)
  let written = 0
  r.on('write', ({ start, end }) => {
    written += end - start
  })
  // Three pieces of 1.4 MiB or more, sent at 1 MiB/s each: a moment in, each is part-way.
  const job = download(`${slow.base}/slow/${file.name}`, r, {
    connections: 3,
    pieceSize: Math.ceil(size / 3),
    retries: 0,
  })
  while (written < 512 * 1024) await new Promise((res) => setTimeout(res, 20))
  // The server goes away with every request part-way.
  await slow.stop()
  await t.throwsAsync(job, { code: 'ERR_DOWNLOAD_NETWORK' })
  t.is(r.status().kind, 'failed', 'the download failed the resource, so readers stop waiting')
  r.reactivate()

  const marked = assertClaimsTrue(t, r, file)
  t.true(marked > 0)
  t.true(marked < size, 'the pieces were cut short')
  t.not(r.nextGap(0, size), null, 'bytes are missing')
  r.close()

  // What was recorded is true as well, and no more than was written.
  const again = openFile(path, size)
  t.deepEqual(again.status(), { kind: 'active' })
  const recorded = assertClaimsTrue(t, again, file)
  t.true(recorded <= marked)
  again.close()
})
