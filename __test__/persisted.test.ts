/**
 * Files with persisted ranges through the JavaScript API: why a file opened
 * with less than it seemed to hold (`recovery()`), the expected length and
 * metadata kept in the range record across reopens, `sync()` making both
 * durable (a child killed with SIGKILL right after it), the POSIX name of an
 * OS error, and events that reach a script's listener before it exits.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CancellationToken, MmapResource, type Recovery, StorageError } from '@kithara/storage'
import test from 'ava'
import { bytes, tempDir } from './helpers.js'

const run = promisify(execFile)
const open = (path: string, extra: object = {}): MmapResource =>
  MmapResource.open(new CancellationToken(), { path, persistRanges: true, ...extra })

/** A partial download: two pieces, closed. */
function partial(path: string): void {
  const r = open(path)
  r.writeAt(0, bytes(1000))
  r.writeAt(5000, bytes(1000, 5000))
  r.close()
}

function claimsNothing(t: import('ava').ExecutionContext, r: MmapResource, why: Recovery): void {
  t.is(r.recovery(), why)
  t.deepEqual(r.status(), { kind: 'active' }, why)
  t.deepEqual(r.ranges(), [], `${why}: nothing is claimed`)
  t.is(r.presentBytes(), 0)
}

test('recovery: none for a valid record, missing, damaged and mismatch otherwise (active, nothing claimed)', (t) => {
  const dir = tempDir(t)
  const good = join(dir, 'good.bin')
  partial(good)
  const valid = open(good)
  t.is(valid.recovery(), 'none')
  t.deepEqual(valid.ranges(), [
    { start: 0, end: 1000 },
    { start: 5000, end: 6000 },
  ])
  valid.close()

  const missing = join(dir, 'missing.bin')
  writeFileSync(missing, bytes(4000))
  const m = open(missing)
  claimsNothing(t, m, 'missing')
  m.close()

  for (const at of ['start', 'middle', 'end'] as const) {
    const damaged = join(dir, `damaged-${at}.bin`)
    partial(damaged)
    const record = readFileSync(`${damaged}.ranges`)
    const i = at === 'start' ? 0 : at === 'middle' ? record.length >> 1 : record.length - 1
    record[i] ^= 0x40
    writeFileSync(`${damaged}.ranges`, record)
    const d = open(damaged)
    claimsNothing(t, d, 'damaged')
    d.close()
  }

  // The path's file replaced by a copy (another inode): the record is another file's.
  const replaced = join(dir, 'replaced.bin')
  partial(replaced)
  copyFileSync(replaced, `${replaced}.copy`)
  renameSync(`${replaced}.copy`, replaced)
  const x = open(replaced)
  claimsNothing(t, x, 'mismatch')
  // The download resumes: new bytes are claimed again.
  x.writeAt(0, bytes(10))
  t.deepEqual(x.ranges(), [{ start: 0, end: 10 }])
  x.close()
})

test('expected length and metadata are kept in the record across reopens', async (t) => {
  const path = join(tempDir(t), 'known.bin')
  const first = open(path, { expectedLen: 10_000 })
  first.setMetadata({ etag: '"v1"', lastModified: 'Wed, 02 Jul 2025 08:00:00 GMT', url: 'http://o/k', user: { n: 1 } })
  first.writeAt(0, bytes(100))
  first.close()

  const second = open(path)
  t.is(second.len(), 10_000, 'no option needed: the record knows')
  t.deepEqual(second.status(), { kind: 'active' })
  t.is(await second.waitRange(10_000, 20_000), 'eof')
  t.deepEqual(second.metadata(), {
    etag: '"v1"',
    lastModified: 'Wed, 02 Jul 2025 08:00:00 GMT',
    url: 'http://o/k',
    user: { n: 1 },
  })
  second.setMetadata({ user: null })
  second.writeAt(100, bytes(9900, 100))
  second.commit()
  second.close()

  const third = open(path)
  t.deepEqual(third.status(), { kind: 'committed', finalLen: 10_000 })
  t.is(third.metadata().user, undefined)
  t.is(third.metadata().etag, '"v1"', 'a committed file keeps its validators (a restarted proxy serves the same ETag)')
  third.close()

  // An expected length the committed file contradicts: the open fails, the file stays.
  const err = t.throws(() => open(path, { expectedLen: 9_999 }), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_LENGTH_MISMATCH')
  const fourth = open(path, { expectedLen: 10_000 })
  t.is(fourth.len(), 10_000)
  fourth.close()
})

test('sync() makes the ranges and metadata durable: a process killed right after loses neither', async (t) => {
  const dir = tempDir(t)
  const child = join(__dirname, 'persisted-child.mjs')
  for (const mode of ['sync', 'nosync'] as const) {
    const path = join(dir, `${mode}.bin`)
    const died = await run(process.execPath, [child, path, mode]).then(
      () => null,
      (e: { signal?: string }) => e.signal,
    )
    t.is(died, 'SIGKILL', mode)
    // As after a reboot: the live region, which keeps what a writer
    // published only until then, is gone; the record alone speaks.
    rmSync(`${path}.live`, { force: true })
    const r = open(path)
    if (mode === 'sync') {
      t.deepEqual(r.ranges(), [{ start: 4096, end: 12_288 }], 'the synced piece is claimed')
      t.is(r.len(), 1 << 20)
      t.is(r.metadata().etag, '"synced"')
      const back = new Uint8Array(8192)
      r.readAt(4096, back)
      t.true(back.every((b) => b === 7))
    } else {
      // Without sync() (and under 16 MiB written) no checkpoint ran: nothing is claimed.
      t.deepEqual(r.ranges(), [], 'the control: without sync() the record is the empty first one')
      t.deepEqual(r.metadata(), {})
    }
    r.close()
  }
})

test('sync() rejects with ERR_STORAGE_IO when the record cannot be written, its stack at the caller', async (t) => {
  const path = join(tempDir(t), 'f.bin')
  const r = open(path)
  t.teardown(() => r.close())
  r.writeAt(0, bytes(100))
  await r.sync()
  // A non-empty directory where the record goes: renaming the new record over it fails.
  rmSync(`${path}.ranges`)
  mkdirSync(join(`${path}.ranges`, 'x'), { recursive: true })
  r.writeAt(100, bytes(100, 100))
  async function syncHere(): Promise<void> {
    await r.sync()
  }
  const err = await t.throwsAsync(syncHere(), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_IO')
  t.is(err?.syscall, 'rename')
  t.is(err?.path, `${path}.ranges`)
  t.regex(String(err?.stack).split('\n')[1] ?? '', /syncHere/)
})

test('an OS error names its POSIX code (systemCode) beside errno and syscall', (t) => {
  const dir = join(tempDir(t), 'a-directory')
  mkdirSync(dir)
  const err = t.throws(() => MmapResource.open(new CancellationToken(), { path: dir }), { instanceOf: StorageError })
  t.is(err?.code, 'ERR_STORAGE_IO')
  t.is(err?.systemCode, 'EISDIR')
  t.is(err?.errno, -21)
  t.is(err?.path, dir)
})

for (const backend of ['native', 'wasm']) {
  test(`${backend}: a script's last change still reaches its listener before the process exits`, async (t) => {
    const child = join(__dirname, 'events-child.mjs')
    const env = { ...process.env, KITHARA_STORAGE_BACKEND: backend }
    for (const act of ['writeAll', 'commit']) {
      for (const where of ['top', 'io', 'immediate']) {
        const { stdout } = await run(process.execPath, [child, where, act], { env })
        t.is(stdout, 'commit 3\n', `${act} at ${where}`)
      }
    }
  })
}
