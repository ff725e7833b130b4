/**
 * Full disk: on a 1 MiB tmpfs (`mount -t tmpfs -o size=1m`, skipped with a
 * printed reason where mounting is not permitted) and under RLIMIT_FSIZE
 * (`ulimit -f`, in a child process): writes that cannot be stored throw
 * ERR_STORAGE_IO with the OS errno (negative, as in Node's fs errors:
 * -ENOSPC, -EFBIG), `syscall` and `path`; the process lives; the bytes
 * written before stay readable; a commit afterwards commits them.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Atomic, AtomicChunked, CancellationToken, MmapResource, StorageError } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'

const ENOSPC = constants.errno.ENOSPC
const EFBIG = constants.errno.EFBIG
const CHUNK = 64 * 1024
const chunk = (i: number): Buffer => Buffer.alloc(CHUNK, (i * 37 + 11) & 0xff)

// Mounted once for the file, before the tests are declared, so that a
// machine that cannot mount skips them (with the reason printed).
const MOUNT = mkdtempSync(join(tmpdir(), 'kithara-full-'))
let skipReason: string | null = null
if (process.platform !== 'linux') skipReason = 'tmpfs full-disk tests need Linux'
else {
  const res = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', MOUNT], { encoding: 'utf8' })
  if (res.status !== 0) {
    skipReason = `mount -t tmpfs -o size=1m failed (${res.error?.message ?? res.stderr.trim() ?? `exit ${res.status}`})`
  }
}
if (skipReason) console.log(`full-disk tmpfs tests skipped: ${skipReason}`)
const onTmpfs = skipReason ? test.skip : test.serial

test.after.always(() => {
  if (!skipReason) {
    const res = spawnSync('umount', [MOUNT], { encoding: 'utf8' })
    if (res.status !== 0) {
      // Something of ours still holds a file there: say what, then detach lazily.
      const held = readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.includes(MOUNT))
      console.log(`umount ${MOUNT} failed (${res.stderr.trim()}); still mapped: ${JSON.stringify(held)}`)
      spawnSync('umount', ['-l', MOUNT])
    }
  }
  rmSync(MOUNT, { recursive: true, force: true })
})

/** Removes everything on the small tmpfs, so each test starts with 1 MiB free. */
function emptyMount(): void {
  for (const f of readdirSync(MOUNT)) rmSync(join(MOUNT, f), { recursive: true, force: true })
}

/** Fills the tmpfs with a plain file until fewer than `leave` bytes are free. */
function fillDisk(leave: number): void {
  const fd = openSync(join(MOUNT, 'filler'), 'w')
  const block = Buffer.alloc(4096, 0xee)
  try {
    for (;;) {
      const { bavail, bsize } = statFs()
      if (bavail * bsize <= leave) break
      writeSync(fd, block)
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e
  } finally {
    closeSync(fd)
  }
}

function statFs(): { bavail: number; bsize: number } {
  const out = execFileSync('stat', ['-f', '-c', '%a %S', MOUNT], { encoding: 'utf8' }).trim().split(' ')
  return { bavail: Number(out[0]), bsize: Number(out[1]) }
}

/** Asserts `e` is the disk-full StorageError for `path`. */
function assertDiskFull(t: ExecutionContext, e: unknown, errno: number, path?: string): void {
  t.true(e instanceof StorageError, String(e))
  const err = e as StorageError
  t.is(err.code, 'ERR_STORAGE_IO')
  t.is(err.errno, -errno, `errno of ${err.message}`)
  t.is(typeof err.syscall, 'string')
  if (path !== undefined) t.is(err.path, path)
}

onTmpfs('tmpfs full: MmapResource.writeAt throws ERR_STORAGE_IO ENOSPC; earlier bytes stay; commit works', (t) => {
  emptyMount()
  const path = join(MOUNT, 'download.bin')
  const r = MmapResource.open(new CancellationToken(), { path, initialLen: CHUNK })
  t.teardown(() => r.close())
  let written = 0
  let failure: unknown
  for (let i = 0; i < 64; i++) {
    try {
      r.writeAt(i * CHUNK, chunk(i))
      written = (i + 1) * CHUNK
    } catch (e) {
      failure = e
      break
    }
  }
  t.truthy(failure, 'a 1 MiB tmpfs must refuse a 4 MiB file')
  assertDiskFull(t, failure, ENOSPC, path)
  t.true(written > 0)
  // The process lives and the resource still works: bytes before are there.
  const buf = Buffer.alloc(CHUNK)
  for (let i = 0; i < written / CHUNK; i++) {
    t.is(r.readAt(i * CHUNK, buf), CHUNK)
    t.true(buf.equals(chunk(i)), `chunk ${i}`)
  }
  t.deepEqual(r.status(), { kind: 'active' })
  // Retrying still fails cleanly (no partial state).
  const again = t.throws(() => r.writeAt(written, chunk(99)))
  assertDiskFull(t, again, ENOSPC, path)
  r.commit()
  t.deepEqual(r.status(), { kind: 'committed', finalLen: written })
  const all = r.readAll()
  t.is(all.length, written)
  t.is(statSync(path).size, written)
  t.true(readFileSync(path).equals(all))
  r.close()
  t.log(`wrote ${written} bytes before ENOSPC`)
})

onTmpfs('tmpfs full: a new file opens (it costs no disk) and its first write throws ERR_STORAGE_IO ENOSPC', (t) => {
  emptyMount()
  fillDisk(0)
  const path = join(MOUNT, 'new.bin')
  // The length of a new file is sparse: opening needs no space.
  const r = MmapResource.open(new CancellationToken(), { path, initialLen: CHUNK })
  t.teardown(() => r.close())
  const e = t.throws(() => r.writeAt(0, chunk(0)))
  assertDiskFull(t, e, ENOSPC, path)
  t.false(r.containsRange(0, 1))
  // With persisted ranges the empty record is written at open: that needs space.
  const persisted = join(MOUNT, 'persisted.bin')
  const e2 = t.throws(() => MmapResource.open(new CancellationToken(), { path: persisted, persistRanges: true }))
  assertDiskFull(t, e2, ENOSPC)
})

onTmpfs('tmpfs full: Atomic.writeAll fails ENOSPC and the old version stays, with no temp left', (t) => {
  emptyMount()
  const path = join(MOUNT, 'config.bin')
  const old = Buffer.alloc(100 * 1024, 0x42)
  writeFileSync(path, old)
  fillDisk(200 * 1024)
  const a = new Atomic(MmapResource.open(new CancellationToken(), { path }))
  t.teardown(() => a.close())
  const e = t.throws(() => a.writeAll(Buffer.alloc(600 * 1024, 0x43)))
  assertDiskFull(t, e, ENOSPC)
  t.true(readFileSync(path).equals(old))
  t.deepEqual(
    readdirSync(MOUNT).filter((f) => f.endsWith('.atomic')),
    [],
  )
  // Commit afterwards commits what the resource holds: the old version.
  a.commit()
  t.deepEqual(a.status(), { kind: 'committed', finalLen: old.length })
  t.true(a.readAll().equals(old))
  a.close()
})

onTmpfs('tmpfs full: AtomicChunked fails ENOSPC in its temp; the canonical path never appears', (t) => {
  emptyMount()
  const path = join(MOUNT, 'chunked.bin')
  const r = AtomicChunked.open(new CancellationToken(), { path })
  t.teardown(() => r.close())
  let failure: unknown
  let written = 0
  for (let i = 0; i < 64 && !failure; i++) {
    try {
      r.writeAt(i * CHUNK, chunk(i))
      written = (i + 1) * CHUNK
    } catch (e) {
      failure = e
    }
  }
  assertDiskFull(t, failure, ENOSPC, `${path}.tmp`)
  t.false(existsSync(path))
  const buf = Buffer.alloc(CHUNK)
  t.is(r.readAt(0, buf), CHUNK)
  t.true(buf.equals(chunk(0)))
  // Committing what fits renames it into place.
  r.commit(written)
  t.is(statSync(path).size, written)
  t.false(existsSync(`${path}.tmp`))
  r.close()
})

test('RLIMIT_FSIZE: writes past the limit throw ERR_STORAGE_IO EFBIG; no SIGXFSZ; commit works (child)', (t) => {
  if (process.platform === 'win32') {
    t.log('skipped: no RLIMIT_FSIZE on Windows')
    t.pass()
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'kithara-fsize-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'limited.bin')
  // `ulimit -f` counts 512-byte blocks in POSIX sh (dash) and 1 KiB in bash: 1 or 2 MiB.
  const res = spawnSync(
    'sh',
    ['-c', 'ulimit -f 2048; exec "$0" "$@"', process.execPath, join(__dirname, 'fsize-child.mjs'), path],
    { encoding: 'utf8', timeout: 60_000 },
  )
  t.is(res.signal, null, `child killed by ${res.signal}: ${res.stderr}`)
  t.is(res.status, 0, res.stderr)
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}')
  t.log(JSON.stringify(out))
  t.true(out.sigxfszIgnoredBeforeLoad, 'Node ignores SIGXFSZ itself')
  t.true(out.sigxfszIgnoredAfterLoad, 'and still does with the addon loaded')
  t.like(out.error, { name: 'StorageError', code: 'ERR_STORAGE_IO', errno: -EFBIG, path })
  t.is(typeof out.error.syscall, 'string')
  t.true(out.written >= CHUNK && out.written <= 2 * 1024 * 1024)
  t.true(out.intact)
  t.deepEqual(out.status, { kind: 'committed', finalLen: out.written })
  t.true(out.committedIntact)
  t.like(out.atomicError, { name: 'StorageError', code: 'ERR_STORAGE_IO', errno: -EFBIG })
  t.true(out.atomicOldIntact)
  t.is(out.atomicTempsLeft, 0)
  t.deepEqual(out.atomicStatus, { kind: 'committed', finalLen: 4096 })
  t.true(out.atomicReadAllIntact)
})

test('loading the addon leaves the SIGXFSZ disposition as it found it (child)', (t) => {
  if (process.platform !== 'linux') {
    t.log('skipped: reads /proc/self/status')
    t.pass()
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'kithara-fsize-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const res = spawnSync(
    process.execPath,
    [join(__dirname, 'fsize-child.mjs'), join(dir, 'x.bin'), '--default-sigxfsz'],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  )
  t.is(res.status, 0, res.stderr)
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}')
  t.false(out.sigxfszIgnoredBeforeLoad, 'the child put back the default disposition')
  t.false(out.sigxfszIgnoredAfterLoad, 'loading the addon must not change it')
})
