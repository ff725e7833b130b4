/**
 * What `Atomic.writeAll` / `writeAllDurable` replace, and with what
 * permissions: a new file follows the umask (as `fs.writeFileSync` does); a
 * replaced file keeps its mode, and its owner where the writer may; a
 * symlink stays a symlink and its target gets the new contents; a file with
 * several hard links is refused (ERR_STORAGE_IO, EMLINK) rather than split.
 * Each write runs in a child with its own umask (and user, where it matters).
 */
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { constants } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { NOBODY, OTHER, actor, isRoot, sharedSetup } from './util.js'

const needsRoot = isRoot ? test : test.skip
const KINDS = ['plain', 'durable'] as const
const flag = (k: (typeof KINDS)[number]): string[] => (k === 'durable' ? ['durable'] : [])

for (const kind of KINDS) {
  needsRoot(`${kind}: a new file follows the umask, as fs.writeFileSync does`, (t) => {
    const { shared } = sharedSetup(t, 0o755, NOBODY)
    for (const [umask, want] of [
      ['022', 0o644],
      ['027', 0o640],
      ['002', 0o664],
    ] as const) {
      const path = join(shared, `new-${umask}.bin`)
      t.deepEqual(actor(t, null, umask, 'atomic', path, 'new', ...flag(kind)), { ok: 'done' })
      t.is(readFileSync(path, 'utf8'), 'new')
      t.is(statSync(path).mode & 0o777, want, `umask ${umask}`)
    }
  })

  needsRoot(`${kind}: a replaced file keeps its mode and owner`, (t) => {
    const { shared } = sharedSetup(t, 0o755, NOBODY)
    for (const mode of [0o600, 0o640, 0o644, 0o664]) {
      const path = join(shared, `old-${mode.toString(8)}.bin`)
      writeFileSync(path, 'old contents')
      chmodSync(path, mode)
      chownSync(path, OTHER.uid, OTHER.gid)
      t.deepEqual(actor(t, null, '077', 'atomic', path, 'new', ...flag(kind)), { ok: 'done' })
      t.is(readFileSync(path, 'utf8'), 'new')
      const st = statSync(path)
      t.is(st.mode & 0o777, mode, `mode ${mode.toString(8)}`)
      t.deepEqual([st.uid, st.gid], [OTHER.uid, OTHER.gid], 'owner kept')
    }
  })

  needsRoot(`${kind}: an unprivileged writer keeps the mode, and owns what it could not give back`, (t) => {
    // nobody replaces root's 0644 file in a directory it may write to: it
    // cannot chown the new file to root, so the file is now nobody's (what
    // any rename-based editor does), with the old mode.
    const { shared } = sharedSetup(t, 0o777, NOBODY)
    const path = join(shared, 'roots.bin')
    writeFileSync(path, 'old contents')
    chmodSync(path, 0o644)
    t.deepEqual(actor(t, NOBODY, '077', 'atomic', path, 'new', ...flag(kind)), { ok: 'done' })
    const st = statSync(path)
    t.is(readFileSync(path, 'utf8'), 'new')
    t.is(st.mode & 0o777, 0o644)
    t.is(st.uid, NOBODY.uid)
  })

  needsRoot(`${kind}: a symlink stays a symlink; its target gets the new contents and keeps its mode`, (t) => {
    const { shared, base } = sharedSetup(t, 0o755, NOBODY)
    const elsewhere = join(base, 'elsewhere')
    mkdirSync(elsewhere)
    const target = join(elsewhere, 'real.bin')
    writeFileSync(target, 'old contents')
    chmodSync(target, 0o640)
    const link = join(shared, 'link.bin')
    symlinkSync(target, link)
    t.deepEqual(actor(t, null, '022', 'atomic', link, 'new', ...flag(kind)), { ok: 'done' })
    t.true(lstatSync(link).isSymbolicLink(), 'the link was replaced by a regular file')
    t.is(readlinkSync(link), target)
    t.is(readFileSync(target, 'utf8'), 'new')
    t.is(statSync(target).mode & 0o777, 0o640)
  })

  needsRoot(`${kind}: a hard-linked file is refused with EMLINK and both names keep the old contents`, (t) => {
    const { shared } = sharedSetup(t, 0o755, NOBODY)
    const path = join(shared, 'a.bin')
    const other = join(shared, 'b.bin')
    writeFileSync(path, 'old contents')
    linkSync(path, other)
    const res = actor(t, null, '022', 'atomic', path, 'new', ...flag(kind))
    t.like(res.err, { code: 'ERR_STORAGE_IO', errno: -constants.errno.EMLINK, syscall: 'rename', path })
    t.regex(res.err?.message ?? '', /2 hard links/)
    t.is(readFileSync(path, 'utf8'), 'old contents')
    t.is(readFileSync(other, 'utf8'), 'old contents')
    t.is(statSync(path).nlink, 2)
  })
}
