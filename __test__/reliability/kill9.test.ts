/**
 * kill -9: child processes rewrite a file in a loop, alternating two
 * versions (1 MiB and 3 MiB, different in every byte), and are SIGKILLed at
 * random moments. After each kill:
 * - Atomic.writeAll: the file is exactly the old or the new version;
 * - AtomicChunked: the canonical file is exactly one complete version (never
 *   partial), and the next writer reclaims the dead writer's `<path>.tmp`
 *   (no ERR_STORAGE_TMP_CLAIMED), which its close then removes.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtomicChunked, CancellationToken } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'
import { SEED } from './seed.js'
import { version } from './versions.cjs'
import { xorshift } from './xorshift.cjs'

const CHILD = join(__dirname, 'kill-child.mjs')
const KILLS_PER_MODE = Number(process.env.KITHARA_KILLS ?? 30)

const V = [version(0), version(1)]

/** Which version `path` holds, or a description of what else it holds. */
function whichVersion(path: string): 0 | 1 | string {
  if (!existsSync(path)) return 'missing'
  const b = readFileSync(path)
  if (b.equals(V[0])) return 0
  if (b.equals(V[1])) return 1
  return `neither version: ${b.length} bytes, first byte ${b[0]}`
}

/** A directory on the real disk (not tmpfs): what a crash would leave there. */
function diskDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kithara-${prefix}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const rand = xorshift(SEED)

/**
 * Starts the child, waits for its first complete version, lets it run a
 * random 0–40 ms more, SIGKILLs it, and resolves once it is dead.
 */
function runAndKill(mode: 'atomic' | 'chunked', path: string): Promise<{ delayMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, mode, path], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let killed = false
    const delayMs = rand(41)
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    child.stdout.once('data', () => {
      setTimeout(() => {
        killed = child.kill('SIGKILL')
      }, delayMs)
    })
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve({ delayMs })
      else reject(new Error(`child ${mode} exited (code ${code}, signal ${signal}) before the kill: ${stderr}`))
    })
  })
}

test('kill -9 during Atomic.writeAll: the file is always entirely the old or the new version', async (t) => {
  t.timeout(60_000 + KILLS_PER_MODE * 2_000)
  const dir = diskDir(t, 'kill-atomic')
  const path = join(dir, 'file.bin')
  writeFileSync(path, V[0])
  const seen = { 0: 0, 1: 0 }
  for (let k = 0; k < KILLS_PER_MODE; k++) {
    await runAndKill('atomic', path)
    const v = whichVersion(path)
    if (typeof v === 'string') {
      t.fail(`after kill ${k}: ${v}`)
      return
    }
    seen[v]++
  }
  // Each kill leaves the writer's `.file.bin.*.atomic` temp if it died mid-write
  // (the documented limit), and at most that one: no live writer leaks one.
  const strays = readdirSync(dir).filter((f) => f.endsWith('.atomic')).length
  t.log(`${KILLS_PER_MODE} kills (seed ${SEED}): old/new ${seen[0]}/${seen[1]}, temps left by dead writers ${strays}`)
  t.true(strays <= KILLS_PER_MODE, `${strays} temps after ${KILLS_PER_MODE} kills`)
  // The kills landed on both versions (the writer alternates them): else
  // they did not hit the writer at random points and the test saw little.
  t.true(seen[0] > 0 && seen[1] > 0, `old/new ${seen[0]}/${seen[1]}`)
})

test('kill -9 during AtomicChunked writes: never a partial file; the next open reclaims the temp', async (t) => {
  t.timeout(60_000 + KILLS_PER_MODE * 2_000)
  const dir = diskDir(t, 'kill-chunked')
  const path = join(dir, 'file.bin')
  const tmp = `${path}.tmp`
  const token = new CancellationToken()
  const seen = { 0: 0, 1: 0 }
  let deadTemps = 0
  for (let k = 0; k < KILLS_PER_MODE; k++) {
    await runAndKill('chunked', path)
    const v = whichVersion(path)
    if (typeof v === 'string') {
      t.fail(`after kill ${k}: canonical file is ${v}`)
      return
    }
    seen[v]++
    if (existsSync(tmp)) deadTemps++
    // The dead writer's lock died with it: this writer must get the temp,
    // and starts it empty (nothing of the dead writer's bytes is claimed).
    const next = AtomicChunked.open(token, { path, mode: 'readWrite' })
    t.deepEqual(next.ranges(), [])
    next.writeAt(0, Buffer.from('x'))
    next.close()
    t.false(existsSync(tmp), 'close() of an uncommitted writer removes its temp')
    t.is(whichVersion(path), v, 'an abandoned writer leaves the canonical file alone')
  }
  t.log(
    `${KILLS_PER_MODE} kills (seed ${SEED}): canonical old/new ${seen[0]}/${seen[1]}, ` +
      `dead writers' temps reclaimed ${deadTemps}`,
  )
  // The writer holds its temp for most of each cycle, so most kills leave
  // one: reclaiming it was tested, not only opening afresh.
  t.true(deadTemps > 0, `no kill of ${KILLS_PER_MODE} left a temp to reclaim`)
  t.true(seen[0] > 0 && seen[1] > 0, `old/new ${seen[0]}/${seen[1]}`)
})

test('a live AtomicChunked writer keeps its temp: a second writer gets ERR_STORAGE_TMP_CLAIMED', (t) => {
  const dir = diskDir(t, 'claim')
  const path = join(dir, 'file.bin')
  const token = new CancellationToken()
  const first = AtomicChunked.open(token, { path, mode: 'readWrite' })
  const err = t.throws(() => AtomicChunked.open(token, { path, mode: 'readWrite' }))
  t.is((err as { code?: string }).code, 'ERR_STORAGE_TMP_CLAIMED')
  first.close()
  AtomicChunked.open(token, { path, mode: 'readWrite' }).close()
})
