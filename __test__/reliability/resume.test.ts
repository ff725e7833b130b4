/**
 * Resume after kill -9 with persisted ranges. A child process downloads into
 * an `MmapResource` with `persistRanges` (resume-child.mjs: the bytes are a
 * function of the offset, pattern.cjs), and is SIGKILLed at random points.
 * After every kill the file is reopened from its record and:
 * - every range it claims holds exactly the bytes written there (checked
 *   byte by byte): nothing is claimed that was not written;
 * - every range a child of this download reported flushed (`flush()`
 *   returned) is claimed: `flush()` writes the record. Every other reopen is
 *   as after a reboot (the live region, which would otherwise hand over all
 *   the writer published, flushed or not, is removed first), so there the
 *   record alone must hold them;
 * - the claims only grow from kill to kill (a reboot may take back what was
 *   published but never flushed), and the next child resumes from exactly
 *   them (it writes only the gaps), until a child completes.
 * And without any `flush()`, the core's periodic checkpoint (every 16 MiB
 * written, on its background thread) writes the record: a writer killed
 * after 64 MiB keeps at least a checkpoint's claims.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type ByteRange, CancellationToken, MmapResource } from '@kithara/storage'
import test, { type ExecutionContext } from 'ava'
import { firstMismatch, pattern } from './pattern.cjs'
import { SEED } from './seed.js'
import { scratchDir, sleep } from './util.js'
import { xorshift } from './xorshift.cjs'

const CHILD = join(__dirname, 'resume-child.mjs')
const KILLS = Number(process.env.KITHARA_KILLS ?? 30) / 2
const MiB = 1024 * 1024
/** A bound on each step of a child (start-up, a write, a checkpoint): they take milliseconds. */
const STEP_BOUND_MS = 20_000

type Event = { ready?: ByteRange[]; flushed?: ByteRange[]; written?: number; complete?: true }

/** A running child and the events it printed so far. */
class Child {
  readonly events: Event[] = []
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>
  private readonly proc: ChildProcess

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let line = ''
    let stderr = ''
    this.proc.stdout?.on('data', (d) => {
      line += String(d)
      for (let nl = line.indexOf('\n'); nl >= 0; nl = line.indexOf('\n')) {
        this.events.push(JSON.parse(line.slice(0, nl)) as Event)
        line = line.slice(nl + 1)
      }
    })
    this.proc.stderr?.on('data', (d) => {
      stderr += String(d)
    })
    // 'close': the process is gone and every line it printed was read.
    this.closed = new Promise((resolve) => this.proc.once('close', (code, signal) => resolve({ code, signal, stderr })))
  }

  /** Resolves once `n` events match `pred`; false if the child ended or the bound passed first. */
  async until(pred: (e: Event) => boolean, n = 1): Promise<boolean> {
    let ended = false
    void this.closed.then(() => {
      ended = true
    })
    // Each turn waits at least 1 ms: the turn count bounds the time.
    for (let turns = 0; this.events.filter(pred).length < n; turns++) {
      if (ended || turns > STEP_BOUND_MS) return false
      await sleep(1)
    }
    return true
  }

  kill(): void {
    this.proc.kill('SIGKILL')
  }
}

/** Whether the merged `claims` cover `range`. */
function covers(claims: ByteRange[], range: ByteRange): boolean {
  return range.start === range.end || claims.some((c) => c.start <= range.start && range.end <= c.end)
}

/**
 * Reopens `path` from its record (as a resuming downloader would) and checks
 * every byte it claims against the pattern; returns the claims and status.
 */
function reopenAndCheck(t: ExecutionContext, path: string): { claims: ByteRange[]; status: string } {
  const r = MmapResource.open(new CancellationToken(), { path, persistRanges: true })
  try {
    const claims = r.ranges()
    for (const c of claims) {
      for (let at = c.start; at < c.end; at += MiB) {
        const buf = Buffer.alloc(Math.min(MiB, c.end - at))
        t.is(r.readAt(at, buf), buf.length)
        const bad = firstMismatch(at, buf)
        if (bad >= 0) {
          t.fail(`byte ${bad} is claimed (range ${c.start}..${c.end}) but was never written there`)
          return { claims, status: r.status().kind }
        }
      }
    }
    return { claims, status: r.status().kind }
  } finally {
    r.close()
  }
}

test.serial(
  'kill -9 at random points of a download with flush(): claims hold their bytes, flushed ranges survive, claims only grow',
  async (t) => {
    t.timeout(600_000)
    const dir = scratchDir(t, 'resume')
    // Under 16 MiB per child, so no periodic checkpoint writes a record: only flush() and commit do.
    const size = 15 * MiB
    const rand = xorshift(SEED)
    let download = 0
    let path = join(dir, `download-${download}.bin`)
    let claims: ByteRange[] = []
    // The last ranges a child of this download reported flushed: each flush
    // records all the child has, which includes all it resumed from.
    let durable: ByteRange[] = []
    let kills = 0
    let flushes = 0
    let completed = 0
    while (kills < KILLS) {
      const child = new Child(['flush', path, String(size), String(SEED + kills)])
      if (!(await child.until((e) => e.ready !== undefined))) {
        t.fail(`child did not start: ${(await child.closed).stderr}`)
        return
      }
      t.deepEqual(child.events[0]?.ready, claims, 'the child resumes from exactly the claims of the record')
      // A random point: after 0 to 2 flushes, then 0 to 4 ms more.
      await child.until((e) => e.flushed !== undefined, rand(3))
      await sleep(rand(5))
      child.kill()
      const end = await child.closed
      const flushed = child.events.filter((e) => e.flushed).map((e) => e.flushed ?? [])
      flushes += flushed.length
      durable = flushed.at(-1) ?? durable
      if (end.signal !== 'SIGKILL') {
        // It completed before the kill: the file is whole and committed. Next file.
        t.is(end.code, 0, end.stderr)
        t.true(child.events.some((e) => e.complete))
        const { claims: whole, status } = reopenAndCheck(t, path)
        t.is(status, 'committed')
        t.deepEqual(whole, [{ start: 0, end: size }])
        completed++
        path = join(dir, `download-${++download}.bin`)
        claims = []
        durable = []
        continue
      }
      kills++
      // As after a reboot: the live region is gone and the record alone speaks.
      const reboot = kills % 2 === 0
      if (reboot) rmSync(`${path}.live`, { force: true })
      const now = reopenAndCheck(t, path)
      if (now.status === 'committed') {
        // Killed between its commit and its exit: the commit it published
        // to the live region is taken over (and recorded) by the reopen.
        t.deepEqual(now.claims, [{ start: 0, end: size }])
        completed++
        path = join(dir, `download-${++download}.bin`)
        claims = []
        durable = []
        continue
      }
      t.is(now.status, 'active')
      for (const range of durable) t.true(covers(now.claims, range), `flushed ${range.start}..${range.end} was lost`)
      if (!reboot) {
        for (const range of claims) t.true(covers(now.claims, range), `claimed ${range.start}..${range.end} was lost`)
      }
      claims = now.claims
    }
    // The last download runs to completion from what the kills left.
    const child = new Child(['flush', path, String(size), String(SEED)])
    const end = await child.closed
    t.is(end.code, 0, end.stderr)
    t.deepEqual(child.events[0]?.ready, claims)
    const r = MmapResource.open(new CancellationToken(), { path, persistRanges: true })
    t.deepEqual(r.status(), { kind: 'committed', finalLen: size })
    t.true(r.readAll().equals(pattern(0, size)))
    r.close()
    t.log(`seed ${SEED}: ${kills} kills, ${flushes} flushes seen, ${completed + 1} downloads completed`)
  },
)

test.serial(
  'the periodic checkpoint writes the record: kill -9 after 64 MiB without flush() keeps its claims',
  async (t) => {
    t.timeout(120_000)
    const dir = scratchDir(t, 'checkpoint')
    const path = join(dir, 'download.bin')
    const size = 64 * MiB
    const child = new Child(['checkpoint', path, String(size)])
    t.teardown(() => child.kill())
    t.true(await child.until((e) => e.ready !== undefined), 'child did not start')
    // The record written at open (empty, bound to the new file).
    const opened = statSync(`${path}.ranges`).ino
    t.true(await child.until((e) => e.written === size), 'the child did not write 64 MiB')
    // A checkpoint replaces the record (a new file renamed over it).
    let replaced = false
    for (let turns = 0; turns <= STEP_BOUND_MS && !replaced; turns++) {
      replaced = statSync(`${path}.ranges`).ino !== opened
      if (!replaced) await sleep(1)
    }
    child.kill()
    await child.closed
    t.true(replaced, `no checkpoint replaced the record within ${STEP_BOUND_MS} ms after 64 MiB were written`)
    const { claims, status } = reopenAndCheck(t, path)
    t.is(status, 'active')
    // A checkpoint is due after 16 MiB: it claims a prefix of at least that.
    t.is(claims.length, 1)
    t.is(claims[0]?.start, 0)
    t.true((claims[0]?.end ?? 0) >= 16 * MiB, `the checkpoint claims ${JSON.stringify(claims)}`)
  },
)
