/** Helpers of the reliability suite. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

/**
 * A fresh scratch directory, removed when the test ends. On tmpfs
 * (/dev/shm) when there is one: file creation, truncation and unlink cost
 * ~5 ms each on a journaled disk and ~0.1 ms there, and the mapping
 * semantics under test are the same. `disk: true` for the OS's temp
 * directory instead (durability tests: what reaches a disk).
 */
export function scratchDir(t: ExecutionContext, prefix: string, opts: { disk?: boolean } = {}): string {
  const base = existsSync('/dev/shm') && !opts.disk ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, `kithara-${prefix}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Resolves after `ms` (lets another thread or process get going; never asserted on). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
