/**
 * AtomicChunked in a directory others can write to (a cache under /tmp, a
 * group-writable media directory). Another user plants things at
 * `<path>.tmp` before the writer, which runs as `nobody`; nothing planted is
 * ever followed, written through or reused, and the writer's own stale temp
 * (a killed writer's) is still reclaimed. In a 0777 directory and in a
 * sticky 1777 one (like /tmp).
 */
import { execFileSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { AtomicChunked, CancellationToken, StorageError } from '@kithara/storage'
import test from 'ava'
import { NOBODY, OTHER, SHARED_DIRS, actor, isRoot, sharedSetup } from './util.js'

const TMP_CLAIMED = 'ERR_STORAGE_TMP_CLAIMED'
const needsRoot = isRoot ? test : test.skip

if (!isRoot) {
  test('the shared-directory tests need root (to act as other users)', (t) => {
    t.fail('run as root: these tests drop to nobody with setpriv and make files of other users')
  })
}

for (const { kind, mode } of SHARED_DIRS) {
  needsRoot(`${kind}: a symlink planted at <path>.tmp is never followed`, (t) => {
    const { shared, secret } = sharedSetup(t, mode, NOBODY)
    const path = join(shared, 'song.mp4')
    symlinkSync(secret, `${path}.tmp`)
    lchownSync(`${path}.tmp`, OTHER.uid, OTHER.gid)
    for (const action of ['chunked-write-commit', 'chunked-write-close']) {
      const res = actor(t, NOBODY, '022', action, path, 'written by the writer')
      t.is(res.err?.code, TMP_CLAIMED, `${action}: ${JSON.stringify(res)}`)
      t.is(readFileSync(secret, 'utf8'), 'SECRET', `${action}: the link's target was written`)
      t.false(existsSync(path), `${action}: the canonical path was created`)
      t.is(readlinkSync(`${path}.tmp`), secret, 'the planted link is left alone')
    }
  })

  needsRoot(`${kind}: a <path>.tmp made in advance by another user is never reused`, (t) => {
    const { shared } = sharedSetup(t, mode, NOBODY)
    const path = join(shared, 'song.mp4')
    writeFileSync(`${path}.tmp`, 'PLANTED', { mode: 0o666 })
    chownSync(`${path}.tmp`, OTHER.uid, OTHER.gid)
    const res = actor(t, NOBODY, '022', 'chunked-write-commit', path, 'written by the writer')
    t.is(res.err?.code, TMP_CLAIMED, JSON.stringify(res))
    t.false(existsSync(path), 'a file the other user owns became the committed file')
    t.is(readFileSync(`${path}.tmp`, 'utf8'), 'PLANTED')
  })

  needsRoot(`${kind}: a hard link at <path>.tmp to the writer's own file is never written through`, (t) => {
    const { shared, secret } = sharedSetup(t, mode, NOBODY)
    const path = join(shared, 'song.mp4')
    linkSync(secret, `${path}.tmp`)
    const res = actor(t, NOBODY, '022', 'chunked-write-commit', path, 'written by the writer')
    t.is(res.err?.code, TMP_CLAIMED, JSON.stringify(res))
    t.is(readFileSync(secret, 'utf8'), 'SECRET')
    t.false(existsSync(path))
  })

  needsRoot(`${kind}: a FIFO at <path>.tmp is refused at once`, (t) => {
    const { shared } = sharedSetup(t, mode, NOBODY)
    const path = join(shared, 'song.mp4')
    execFileSync('mkfifo', [`${path}.tmp`])
    chownSync(`${path}.tmp`, OTHER.uid, OTHER.gid)
    const res = actor(t, NOBODY, '022', 'chunked-write-commit', path, 'x')
    t.is(res.err?.code, TMP_CLAIMED, JSON.stringify(res))
    t.true(lstatSync(`${path}.tmp`).isFIFO())
  })

  needsRoot(`${kind}: symlinks planted at the range record and its old temp name are never written through`, (t) => {
    const { shared, secret } = sharedSetup(t, mode, NOBODY)
    const path = join(shared, 'song.mp4')
    for (const planted of [`${path}.ranges.tmp`, `${path}.ranges`]) {
      symlinkSync(secret, planted)
      lchownSync(planted, OTHER.uid, OTHER.gid)
    }
    const res = actor(t, NOBODY, '022', 'persist', path, 'written by the writer')
    t.is(readFileSync(secret, 'utf8'), 'SECRET', "the link's target was written")
    if (mode & 0o1000) {
      // Sticky: the other user's link at the record's name cannot be
      // replaced; the open fails and leaves nothing behind.
      t.is(res.err?.code, 'ERR_STORAGE_IO', JSON.stringify(res))
      t.false(existsSync(path))
    } else {
      // The link at the record's name is replaced by a record, never followed.
      t.deepEqual(res, { ok: { kind: 'committed', finalLen: 21 } })
      t.false(lstatSync(`${path}.ranges`).isSymbolicLink())
    }
  })

  needsRoot(
    `${kind}: the writer's own stale temp is reclaimed; the committed file is the writer's, with its umask`,
    (t) => {
      const { shared } = sharedSetup(t, mode, NOBODY)
      const path = join(shared, 'song.mp4')
      // What a writer killed mid-download leaves: its own temp, unlocked.
      writeFileSync(`${path}.tmp`, 'STALE BYTES OF A KILLED WRITER', { mode: 0o600 })
      chownSync(`${path}.tmp`, NOBODY.uid, NOBODY.gid)
      const res = actor(t, NOBODY, '027', 'chunked-write-commit', path, 'fresh')
      t.deepEqual(res, { ok: 'done' })
      t.is(readFileSync(path, 'utf8'), 'fresh')
      const st = statSync(path)
      t.is(st.uid, NOBODY.uid)
      t.is(st.mode & 0o777, 0o640)
      t.false(existsSync(`${path}.tmp`))

      // A fresh write (no temp there) is the writer's too, with its umask.
      const other = join(shared, 'other.mp4')
      t.deepEqual(actor(t, NOBODY, '002', 'chunked-write-commit', other, 'x'), { ok: 'done' })
      t.is(statSync(other).uid, NOBODY.uid)
      t.is(statSync(other).mode & 0o777, 0o664)
    },
  )
}

// The original report: root writing into a world-writable directory, a
// symlink planted at the temp pointing at a root-only file.
needsRoot('root writer: a symlink at <path>.tmp to a root-only file is refused, the file untouched', (t) => {
  const { shared, secret } = sharedSetup(t, 0o777, { uid: 0, gid: 0 })
  const path = join(shared, 'song.mp4')
  symlinkSync(secret, `${path}.tmp`)
  lchownSync(`${path}.tmp`, OTHER.uid, OTHER.gid)
  const err = t.throws(() => AtomicChunked.open(new CancellationToken(), { path }), { instanceOf: StorageError })
  t.is(err?.code, TMP_CLAIMED)
  t.is(err?.path, `${path}.tmp`)
  t.is(readFileSync(secret, 'utf8'), 'SECRET')
  t.false(existsSync(path))
})
