/** Helpers of the shared-directory tests: users, directories, the actor child. */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

const ACTOR = join(__dirname, 'actor.mjs')

/** A user the tests run a child as, or make files for. */
export interface User {
  uid: number
  gid: number
}

/** The unprivileged user writers run as (`nobody`). */
export const NOBODY: User = {
  uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })),
  gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })),
}

/** Another user, the one who plants things: needs no account, only a number. */
export const OTHER: User = { uid: 4242, gid: 4242 }

/** Whether this process can drop to other users (the tests need root). */
export const isRoot = process.getuid?.() === 0

/** What the actor printed: its result or its error's fields. */
export interface ActorResult {
  ok?: unknown
  err?: { code?: string; errno?: number; syscall?: string; path?: string; message?: string }
}

/**
 * Runs `actor.mjs <args>` as `user` (or as this process's user when
 * `user` is null) with `umask`, within a deadline: a child that hangs is
 * killed and the test fails.
 */
export function actor(t: ExecutionContext, user: User | null, umask: string, ...args: string[]): ActorResult {
  const node = [process.execPath, ACTOR, ...args]
  const [cmd, ...argv] = user
    ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', ...node]
    : node
  const res = spawnSync(cmd, argv, {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, KITHARA_UMASK: umask },
  })
  if (res.signal) t.fail(`actor ${args.join(' ')} killed by ${res.signal} (hung?): ${res.stderr}`)
  const line = res.stdout.trim().split('\n').pop() ?? ''
  if (!line) t.fail(`actor ${args.join(' ')} printed nothing: ${res.stderr}`)
  return line ? (JSON.parse(line) as ActorResult) : {}
}

/** The two kinds of shared directory: world-writable, and world-writable with the sticky bit (/tmp). */
export const SHARED_DIRS = [
  { kind: '0777', mode: 0o777 },
  { kind: '1777 (sticky)', mode: 0o1777 },
] as const

/**
 * A fresh base directory others can traverse (0755), removed when the test
 * ends, with a shared directory of `mode` in it and a private directory of
 * `owner` (0700) holding `secret` (0600, "SECRET").
 */
export function sharedSetup(
  t: ExecutionContext,
  mode: number,
  owner: User,
): { shared: string; secret: string; base: string } {
  const base = mkdtempSync(join(tmpdir(), 'kithara-shared-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  chmodSync(base, 0o755)
  const shared = join(base, 'shared')
  mkdirSync(shared)
  chmodSync(shared, mode)
  const priv = join(base, 'private')
  mkdirSync(priv)
  chownSync(priv, owner.uid, owner.gid)
  chmodSync(priv, 0o700)
  const secret = join(priv, 'secret')
  writeFileSync(secret, 'SECRET', { mode: 0o600 })
  chownSync(secret, owner.uid, owner.gid)
  return { shared, secret, base }
}
