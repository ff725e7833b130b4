/**
 * The `cluster` module, as a Node service runs: one worker downloads a
 * 32 MiB file in shuffled 256 KiB pieces, three follower workers stream it
 * from the start, in order, while it downloads (each waits for the next
 * piece it needs), and every stream hashes to the file.
 */
import cluster, { type Worker } from 'node:cluster'
import { join } from 'node:path'
import test from 'ava'
import { tempDir } from '../helpers.js'
import { hashOf } from './pattern.cjs'
import { CHILD, Peer } from './peer.js'

test('one writer and three followers in cluster workers: every follower streams the whole download in order', async (t) => {
  t.timeout(120_000)
  const path = join(tempDir(t), 'movie.bin')
  const size = 32 * 1024 * 1024
  cluster.setupPrimary({ exec: CHILD, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const workers: Worker[] = []
  t.teardown(() => {
    for (const w of workers) w.kill('SIGKILL')
  })
  const start = (msg: Record<string, unknown>): Peer => {
    const worker = cluster.fork()
    workers.push(worker)
    return new Peer(worker.process).begin(msg)
  }
  // The writer opens first (a follower of a file nobody created would find
  // it missing: committed and empty) and writes a few pieces; once every
  // follower streams, it writes the rest, with a pause between pieces.
  const writer = start({ role: 'writer', path, size, pieceSize: 256 * 1024, seed: 42, pause: 2, hold: 8 })
  await writer.next('holding')
  const followers = [0, 1, 2].map(() => start({ role: 'follower', path }))
  for (const f of followers) t.true((await f.next('following')).following)
  writer.proc.send({ go: true })
  const expected = hashOf(size)
  const results = await Promise.all(followers.map((f) => f.next('hash')))
  await writer.next('done')
  for (const r of results) {
    t.is(r.hash, expected)
    t.true(r.isFollower)
    t.deepEqual(r.status, { kind: 'committed', finalLen: size })
  }
})
