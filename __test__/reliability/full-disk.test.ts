/**
 * Full disk: on a 1 MiB tmpfs (`mount -t tmpfs -o size=1m`) and under
 * RLIMIT_FSIZE (`ulimit -f`, in a child process, which needs no privilege):
 * writes that cannot be stored throw ERR_STORAGE_IO with the OS errno
 * (negative, as in Node's fs errors: -ENOSPC, -EFBIG, never -EIO), `syscall`
 * and `path`; the process lives; the bytes written before stay readable; a
 * commit afterwards commits them. Writes below and above the 64 KiB `pwrite`
 * threshold: a fresh page always gets its blocks from a `pwrite` (small
 * writes too), rewrites of written pages go through the mapping and need no
 * space.
 *
 * Where the mechanism should exist (Linux) and cannot be used, the tests
 * fail with the reason (a tmpfs needs root or CAP_SYS_ADMIN): a full-disk
 * test that passes without a full disk proves nothing. On other platforms
 * they are skipped (no tmpfs mounts, no RLIMIT_FSIZE on Windows).
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
const linux = process.platform === 'linux'

// Mounted once for the file, before the tests are declared.
const MOUNT = mkdtempSync(join(tmpdir(), 'kithara-full-'))
const NEEDS_ROOT = 'run the tests as root (or with CAP_SYS_ADMIN)'
let mountProblem: string | null = null
if (linux) {
  const res = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', MOUNT], { encoding: 'utf8' })
  if (res.status !== 0) {
    const why = res.error?.message ?? (res.stderr.trim() || `exit ${res.status}`)
    mountProblem = `cannot mount the 1 MiB tmpfs these tests fill (mount -t tmpfs: ${why}); ${NEEDS_ROOT}`
  }
}

/** A test on the small tmpfs: fails with the reason where it cannot be mounted; skipped off Linux. */
function onTmpfs(title: string, fn: (t: ExecutionContext) => void): void {
  if (!linux) {
    // No tmpfs to mount off Linux: skipped (ava lists it as skipped).
    test.skip(`${title} (Linux only)`, () => {})
    return
  }
  test.serial(title, (t) => {
    if (mountProblem) {
      t.fail(mountProblem)
      return
    }
    fn(t)
  })
}

test.after.always(() => {
  if (linux && !mountProblem) {
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

onTmpfs(
  'tmpfs full: small writes into fresh pages throw ENOSPC, never EIO; rewrites of written pages still work',
  (t) => {
    emptyMount()
    const path = join(MOUNT, 'small.bin')
    const PAGE = 4096
    // Longer than the disk: the length is sparse and costs nothing.
    const r = MmapResource.open(new CancellationToken(), { path, initialLen: 4 * 1024 * 1024 })
    t.teardown(() => r.close())
    const page = (i: number): Buffer => Buffer.alloc(PAGE, (i * 29 + 3) & 0xff)
    let written = 0
    let failure: unknown
    // One page at a time, each below the pwrite threshold, until the disk is full.
    for (let i = 0; i < 1024; i++) {
      try {
        r.writeAt(i * PAGE, page(i))
        written = (i + 1) * PAGE
      } catch (e) {
        failure = e
        break
      }
    }
    t.truthy(failure, 'a 1 MiB tmpfs must refuse 4 MiB')
    assertDiskFull(t, failure, ENOSPC, path)
    // Every size into a fresh page is refused the same way: a few bytes, a
    // page, and 64 KiB (which goes to the file with pwrite).
    assertDiskFull(
      t,
      t.throws(() => r.writeAt(written + 10, Buffer.alloc(100, 1))),
      ENOSPC,
      path,
    )
    assertDiskFull(
      t,
      t.throws(() => r.writeAt(2 * 1024 * 1024, page(0))),
      ENOSPC,
      path,
    )
    assertDiskFull(
      t,
      t.throws(() => r.writeAt(3 * 1024 * 1024, chunk(1))),
      ENOSPC,
      path,
    )
    t.false(r.containsRange(written, written + 1))
    t.deepEqual(r.ranges(), [{ start: 0, end: written }])
    // Rewrites of pages that hold data need no space: a small one and a
    // 64 KiB one (both through the mapping), on the full disk.
    r.writeAt(100, Buffer.alloc(100, 0xab))
    r.writeAt(0, chunk(2))
    const buf = Buffer.alloc(CHUNK)
    t.is(r.readAt(0, buf), CHUNK)
    t.true(buf.equals(chunk(2)))
    const last = Buffer.alloc(PAGE)
    const n = written / PAGE - 1
    t.is(r.readAt(n * PAGE, last), PAGE)
    t.true(last.equals(page(n)), 'the last page written before the disk filled')
    r.commit()
    t.deepEqual(r.status(), { kind: 'committed', finalLen: written })
    t.is(statSync(path).size, written)
    r.close()
  },
)

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

/** What fsize-child.mjs reports after filling a file up to the limit. */
interface LimitedReport {
  sigxfszIgnoredBeforeLoad: boolean
  sigxfszIgnoredAfterLoad: boolean
  written: number
  error: { syscall: unknown }
  intact: boolean
  status: unknown
  committedIntact: boolean
  atomicError: object
  atomicOldIntact: boolean
  atomicTempsLeft: number
  atomicStatus: unknown
  atomicReadAllIntact: boolean
}

/** Tests under RLIMIT_FSIZE (`ulimit -f` in sh): every Unix; Windows has no such limit. */
const withFsizeLimit = process.platform === 'win32' ? test.skip : test

/** Runs fsize-child.mjs under `ulimit -f 2048` (1 MiB in dash, 2 MiB in bash); its JSON report. */
function runLimited<T = Record<string, unknown>>(t: ExecutionContext, args: string[]): T {
  const res = spawnSync(
    'sh',
    ['-c', 'ulimit -f 2048; exec "$0" "$@"', process.execPath, join(__dirname, 'fsize-child.mjs'), ...args],
    { encoding: 'utf8', timeout: 60_000 },
  )
  t.is(res.signal, null, `child killed by ${res.signal}: ${res.stderr}`)
  t.is(res.status, 0, res.stderr)
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}')
  t.log(JSON.stringify(out))
  return out
}

withFsizeLimit(
  'RLIMIT_FSIZE: writes of every size into fresh pages past the limit throw EFBIG; rewrites work (child)',
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kithara-fsize-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'resumed.bin')
    // Before the limit: a persisted download 8 MiB long (sparse), 64 KiB present.
    const prep = MmapResource.open(new CancellationToken(), { path, initialLen: 8 * 1024 * 1024, persistRanges: true })
    prep.writeAt(0, chunk(0))
    prep.close()
    t.is(statSync(path).size, 8 * 1024 * 1024)
    const out = runLimited(t, [path, '--prepared'])
    t.deepEqual(out.resumed, [{ start: 0, end: CHUNK }])
    const efbig = { err: { name: 'StorageError', code: 'ERR_STORAGE_IO', errno: -EFBIG, path } }
    // Below the pwrite threshold (a page, a few bytes) and above it: all refused.
    t.like(out.smallPastLimit, efbig, 'a 4 KiB write into a fresh page past the limit')
    t.like(out.tinyPastLimit, efbig, 'a 100-byte write into a fresh page past the limit')
    t.like(out.largePastLimit, efbig, 'a 128 KiB write past the limit')
    // Under the limit, fresh pages are written, and written pages are rewritten.
    t.deepEqual(out.smallBelowLimit, { ok: null })
    t.deepEqual(out.smallRewrite, { ok: null })
    t.deepEqual(out.largeRewrite, { ok: null })
    t.true(out.bytesIntact)
    // Nothing refused is claimed.
    t.deepEqual(out.ranges, [
      { start: 0, end: CHUNK },
      { start: 512 * 1024, end: 512 * 1024 + 4096 },
    ])
  },
)

withFsizeLimit(
  'RLIMIT_FSIZE: writes past the limit throw ERR_STORAGE_IO EFBIG; no SIGXFSZ; commit works (child)',
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kithara-fsize-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'limited.bin')
    const out = runLimited<LimitedReport>(t, [path])
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
  },
)

// Linux only: the child reads its signal dispositions from /proc/self/status.
;(linux ? test : test.skip)('loading the addon leaves the SIGXFSZ disposition as it found it (child)', (t) => {
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
