/**
 * Several processes, one file: one writer (ERR_STORAGE_LOCKED for a second),
 * followers that follow the writer live (read-only, woken by its writes, its
 * commit), the takeover of a writer killed with kill -9, and followers in
 * worker threads. Writers and followers run in real child processes
 * (child.mjs); files are real files.
 */
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { CancellationToken, MmapResource, StorageError } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'
import { tempDir } from '../helpers.js'
import { piece, shuffled } from './pattern.cjs'
import { Peer, settled } from './peer.js'

const token = new CancellationToken()

function open(path: string, mode: 'auto' | 'readWrite' | 'readOnly'): MmapResource {
  return MmapResource.open(token, { path, mode, persistRanges: true })
}

/** Every range `r` claims holds the bytes that belong there. */
function assertClaimsHold(t: ExecutionContext, r: MmapResource): void {
  for (const { start, end } of r.ranges()) {
    const buf = Buffer.alloc(end - start)
    t.is(r.readAt(start, buf), end - start)
    if (!buf.equals(piece(start, end))) t.fail(`wrong bytes in [${start}, ${end})`)
  }
}

test('a second writer gets ERR_STORAGE_LOCKED, in another process and in this one, until the first closes', async (t) => {
  const path = join(tempDir(t), 'dl.bin')
  const first = open(path, 'auto')
  t.false(first.isFollower())
  first.writeAt(0, piece(0, 1000))

  const other = Peer.start(t, { role: 'open', path, mode: 'readWrite', persistRanges: true })
  t.is((await other.next('error')).error, 'ERR_STORAGE_LOCKED')
  const plain = Peer.start(t, { role: 'open', path, mode: 'readWrite', persistRanges: false })
  t.is((await plain.next('error')).error, 'ERR_STORAGE_LOCKED')
  const e = t.throws(() => open(path, 'readWrite'), { instanceOf: StorageError })
  t.is(e?.code, 'ERR_STORAGE_LOCKED')
  t.is((e as StorageError & { path?: string }).path, path)
  // In auto mode a process that finds a live writer follows it instead.
  const auto = Peer.start(t, { role: 'open', path, mode: 'auto', persistRanges: true })
  t.is((await auto.next('opened')).opened, 'follower')

  first.close()
  const second = Peer.start(t, { role: 'open', path, mode: 'readWrite', persistRanges: true })
  t.is((await second.next('opened')).opened, 'writer')
  t.throws(() => open(path, 'readWrite'), { code: 'ERR_STORAGE_LOCKED' })
  second.proc.send({ exit: true })
  await once(second.proc, 'exit')
  const third = open(path, 'readWrite')
  t.false(third.isFollower())
  t.true(third.containsRange(0, 1000))
  third.close()
})

test('a follower waits for a range the writer writes later, reads the right bytes, then sees the commit', async (t) => {
  const path = join(tempDir(t), 'dl.bin')
  const w = Peer.start(t, { role: 'open', path, mode: 'auto', persistRanges: true })
  t.is((await w.next('opened')).opened, 'writer')
  await w.ask({ write: [0, 1000] }, 'wrote')

  const f = open(path, 'readOnly')
  t.true(f.isFollower())
  t.deepEqual(f.status(), { kind: 'active' })
  t.true(f.containsRange(0, 1000))
  t.false(f.containsRange(1000, 1001))
  t.throws(() => f.writeAt(0, piece(0, 1)), { code: 'ERR_STORAGE_READ_ONLY' })

  const waited = f.waitRange(65_536, 131_072)
  await w.ask({ write: [65_536, 100_000] }, 'wrote')
  await delay(50)
  t.false(await settled(waited), 'woken by half the range')
  await w.ask({ write: [100_000, 131_072] }, 'wrote')
  t.is(await waited, 'ready')
  assertClaimsHold(t, f)

  const past = f.waitRange(200_000, 200_001)
  const inside = f.waitRange(140_000, 150_000)
  await w.ask({ write: [1000, 65_536] }, 'wrote')
  await w.ask({ write: [131_072, 150_000] }, 'wrote')
  await w.ask({ commit: 150_000 }, 'committed')
  t.is(await inside, 'ready')
  t.is(await past, 'eof')
  t.deepEqual(f.status(), { kind: 'committed', finalLen: 150_000 })
  t.is(f.len(), 150_000)
  const chunks: Buffer[] = []
  for await (const chunk of f.createReadStream()) chunks.push(chunk)
  t.true(Buffer.concat(chunks).equals(piece(0, 150_000)))
  f.close()
})

test('kill -9 of a writer mid-download: the next writer takes over every published range, right to the byte, and completes', async (t) => {
  t.timeout(60_000)
  const path = join(tempDir(t), 'dl.bin')
  const size = 8 * 1024 * 1024 + 123
  const pieceSize = 64 * 1024
  const seed = 7
  const order = shuffled(Math.ceil(size / pieceSize), seed)
  for (const killAfter of [3, 40]) {
    const w = Peer.start(t, { role: 'writer', path, size, pieceSize, seed, pause: 1 })
    await w.next('ready')
    let written = 0
    while (written < killAfter) written = (await w.next('piece')).piece as number
    await w.kill()

    const r = open(path, 'readWrite')
    t.false(r.isFollower())
    // Every piece the writer reported written is there (8 MiB: no checkpoint
    // ran, so they come from the live region, not the record)...
    const missing = order
      .slice(0, written)
      .filter((i) => !r.containsRange(i * pieceSize, Math.min(size, (i + 1) * pieceSize)))
    t.deepEqual(missing, [], `after ${written} pieces`)
    // ...and every claimed byte is right.
    assertClaimsHold(t, r)
    r.close()
  }
  // The last takeover completes the download.
  const r = open(path, 'readWrite')
  for (let gap = r.nextGap(0, size); gap; gap = r.nextGap(gap.end, size)) {
    r.writeAt(gap.start, piece(gap.start, gap.end))
  }
  r.commit(size)
  const all = r.readAll()
  t.is(all.length, size)
  t.true(all.equals(piece(0, size)))
  r.close()
})

test('a follower whose writer dies keeps its waits pending until a new writer supplies the bytes', async (t) => {
  const path = join(tempDir(t), 'dl.bin')
  const w = Peer.start(t, { role: 'open', path, mode: 'auto', persistRanges: true })
  t.is((await w.next('opened')).opened, 'writer')
  await w.ask({ write: [0, 1000] }, 'wrote')
  const f = open(path, 'readOnly')
  const waited = f.waitRange(1000, 5000)
  await w.ask({ write: [1000, 2000] }, 'wrote')
  await w.kill()
  await delay(100)
  t.false(await settled(waited), 'the wait ended with its writer')
  t.deepEqual(f.status(), { kind: 'active' })
  t.true(f.containsRange(0, 2000))

  const next = Peer.start(t, { role: 'open', path, mode: 'readWrite', persistRanges: true })
  t.is((await next.next('opened')).opened, 'writer')
  await next.ask({ write: [2000, 5000] }, 'wrote')
  t.is(await waited, 'ready')
  assertClaimsHold(t, f)
  f.close()
})

/** A worker thread that opens a follower itself and blocks in waitRangeSync. */
const followerWorker = `
const { parentPort, workerData } = require('node:worker_threads')
const { MmapResource, CancellationToken } = require(workerData.entry)
const r = MmapResource.open(new CancellationToken(), { path: workerData.path, mode: 'readOnly', persistRanges: true })
parentPort.postMessage({ ready: true, isFollower: r.isFollower() })
const outcome = r.waitRangeSync(workerData.start, workerData.end, { timeoutMs: 30000 })
const buf = Buffer.alloc(workerData.end - workerData.start)
r.readAt(workerData.start, buf)
parentPort.postMessage({ outcome, data: buf })
r.close()
`

test('followers in worker threads block in waitRangeSync until the writer process writes', async (t) => {
  const path = join(tempDir(t), 'dl.bin')
  const w = Peer.start(t, { role: 'open', path, mode: 'auto', persistRanges: true })
  t.is((await w.next('opened')).opened, 'writer')
  const entry = require.resolve('@kithara/storage')
  const ranges: [number, number][] = [
    [10_000, 20_000],
    [500_000, 700_000],
  ]
  const workers = ranges.map(
    ([start, end]) => new Worker(followerWorker, { eval: true, workerData: { entry, path, start, end } }),
  )
  t.teardown(() => Promise.all(workers.map((wk) => wk.terminate())))
  const results = workers.map((wk) => {
    let ready: (m: Record<string, unknown>) => void = () => {}
    const started = new Promise<Record<string, unknown>>((resolve) => {
      ready = resolve
    })
    const done = new Promise<Record<string, unknown>>((resolve, reject) => {
      wk.on('message', (m) => {
        if ('ready' in m) ready(m)
        if ('outcome' in m) resolve(m)
      })
      wk.once('error', reject)
    })
    return { started, done }
  })
  for (const r of results) t.true((await r.started).isFollower)
  await w.ask({ write: [0, 30_000] }, 'wrote')
  await w.ask({ write: [500_000, 600_000] }, 'wrote')
  const first = await results[0].done
  t.is(first.outcome, 'ready')
  t.true(Buffer.from(first.data as Uint8Array).equals(piece(10_000, 20_000)))
  t.false(await settled(results[1].done), 'woken by half its range')
  await w.ask({ write: [600_000, 700_000] }, 'wrote')
  const second = await results[1].done
  t.is(second.outcome, 'ready')
  t.true(Buffer.from(second.data as Uint8Array).equals(piece(500_000, 700_000)))
})
