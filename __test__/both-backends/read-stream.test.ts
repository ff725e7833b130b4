/**
 * createReadStream on either backend: it pushes what is present (at least
 * one byte) instead of waiting for a whole chunk, stops at an expected
 * length, and gives up after `timeoutMs` without a byte.
 */
import { CancellationToken, MemResource, StorageError } from '@kithara/storage'
import test from 'ava'
import { bytes } from '../helpers.js'

const open = (): MemResource => MemResource.open(new CancellationToken())

test('a read stream pushes the bytes present, without waiting to fill its chunk', async (t) => {
  const r = open()
  const s = r.createReadStream({ highWaterMark: 1 << 20 })
  const first = new Promise<Buffer>((resolve) => s.once('data', resolve))
  r.writeAt(0, bytes(1))
  // One byte of a 1 MiB chunk: it comes now, not when the chunk is full.
  t.deepEqual([...(await first)], [0])
  const second = new Promise<Buffer>((resolve) => s.once('data', resolve))
  r.writeAt(1, bytes(100, 1))
  t.is((await second).length, 100)
  s.destroy()
  r.close()
})

test('a read stream stops at a gap and resumes when it fills', async (t) => {
  const r = open()
  r.writeAt(0, bytes(10))
  r.writeAt(20, bytes(10, 20))
  const chunks: number[][] = []
  const s = r.createReadStream({ highWaterMark: 64 })
  s.on('data', (c: Buffer) => {
    chunks.push([...c])
    if (chunks.length === 1) r.writeAt(10, bytes(10, 10))
    if (chunks.length === 2) r.commit()
  })
  await new Promise((resolve, reject) => s.on('end', resolve).on('error', reject))
  t.deepEqual(chunks[0], [...bytes(10)], 'what was present, not a full chunk')
  t.deepEqual(chunks.flat(), [...bytes(30)])
})

test('a read stream ends at the expected length without a commit', async (t) => {
  const r = MemResource.open(new CancellationToken(), { expectedLen: 5 })
  const parts: Buffer[] = []
  const s = r.createReadStream()
  s.on('data', (c: Buffer) => parts.push(c))
  r.writeAt(0, bytes(5))
  await new Promise((resolve, reject) => s.on('end', resolve).on('error', reject))
  t.deepEqual([...Buffer.concat(parts)], [...bytes(5)])
  t.deepEqual(r.status(), { kind: 'active' })
})

test('timeoutMs: a read stream waiting longer than that for its next byte errors with ERR_STORAGE_TIMEOUT', async (t) => {
  const r = open()
  r.writeAt(0, bytes(3))
  const got: number[] = []
  const s = r.createReadStream({ timeoutMs: 30 })
  s.on('data', (c: Buffer) => got.push(...c))
  const err = await new Promise<unknown>((resolve) => s.on('error', resolve))
  t.true(err instanceof StorageError)
  t.is((err as StorageError).code, 'ERR_STORAGE_TIMEOUT')
  t.deepEqual(got, [0, 1, 2], 'what was there arrived first')
  // The resource is untouched: a later stream reads on.
  r.writeAt(3, bytes(1, 3))
  r.commit()
  const again: number[] = []
  for await (const c of r.createReadStream({ timeoutMs: 30 })) again.push(...(c as Buffer))
  t.deepEqual(again, [0, 1, 2, 3])
  t.throws(() => r.createReadStream({ timeoutMs: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
})
