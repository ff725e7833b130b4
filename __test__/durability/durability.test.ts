/**
 * Write barriers, seen from outside: a child process runs one scenario under
 * `strace -f -y` (Debian's strace), and the test reads the order of the
 * syscalls that make things durable. What must hold after a power cut:
 *
 * - the range record (`<path>.ranges`) is never durable before the data it
 *   describes: every record that follows data writes is renamed into place
 *   only after an fsync/fdatasync of the data file that completed after
 *   those writes (commit, close, flush, and a rewrite's new generation);
 * - the record's own temp is synced before its rename (whole or nothing);
 * - AtomicChunked syncs `<path>.tmp` before renaming it onto `<path>`, then
 *   syncs the directory; `writeAllDurable` syncs its temp before the rename,
 *   then the directory.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { scratchDir } from '../reliability/util.js'

const CHILD = join(__dirname, 'durability-child.mjs')
const TRACED = 'fsync,fdatasync,msync,rename,renameat,renameat2,pwrite64'

/** One traced event, in the order the trace shows them completing (syncs) or starting (the rest). */
type Event = { op: 'sync'; path: string } | { op: 'rename'; from: string; to: string } | { op: 'write'; path: string }

const hasStrace = spawnSync('strace', ['-V']).status === 0

/** Runs `scenario` under strace in a fresh directory; returns the directory and the events. */
function traced(
  t: ExecutionContext,
  scenario: string,
  prepare?: (dir: string) => void,
): { dir: string; events: Event[] } {
  // A real disk, not tmpfs: what power loss is about.
  const dir = scratchDir(t, `durable-${scenario}`, { disk: true })
  prepare?.(dir)
  const trace = join(dir, 'strace.txt')
  const res = spawnSync(
    'strace',
    [
      '-f',
      '-y',
      '-qq',
      '-e',
      `trace=${TRACED}`,
      '-e',
      'signal=none',
      '-o',
      trace,
      process.execPath,
      CHILD,
      scenario,
      dir,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  t.is(res.status, 0, `strace/child failed: ${res.stderr}`)
  t.is(res.stdout.trim(), 'done')
  return { dir, events: parse(readFileSync(trace, 'utf8')) }
}

/** The events of a `strace -f -y` trace; a split call counts where it completes (syncs) or starts. */
function parse(text: string): Event[] {
  const events: Event[] = []
  const pendingSync = new Map<string, string>()
  for (const line of text.split('\n')) {
    const pid = line.split(/\s+/, 1)[0]
    const sync = /^\d+\s+f(?:data)?sync\(\d+<([^>]*)>(\) += 0| <unfinished)/.exec(line)
    if (sync) {
      if (sync[2].startsWith(')')) events.push({ op: 'sync', path: sync[1] })
      else pendingSync.set(pid, sync[1])
      continue
    }
    if (/<\.\.\. f(?:data)?sync resumed>\) += 0/.test(line) && pendingSync.has(pid)) {
      events.push({ op: 'sync', path: pendingSync.get(pid) as string })
      pendingSync.delete(pid)
      continue
    }
    if (/^\d+\s+rename(?:at2?)?\(/.test(line)) {
      const [from, to] = [...line.matchAll(/"([^"]+)"/g)].map((m) => m[1])
      events.push({ op: 'rename', from, to })
      continue
    }
    const write = /^\d+\s+pwrite64\(\d+<([^>]*)>/.exec(line)
    if (write) events.push({ op: 'write', path: write[1] })
  }
  return events
}

/**
 * Every record rename but the open's first (an empty record: it claims
 * nothing) comes after a completed sync of the data file that itself comes
 * after the last write to it; the record's temp is synced before its rename.
 */
function assertRecordsFollowData(t: ExecutionContext, dir: string, events: Event[], minRecords: number): void {
  const data = join(dir, 'data.bin')
  const record = `${data}.ranges`
  let lastWrite = -1
  let lastDataSync = -1
  let records = 0
  const synced = new Set<string>()
  events.forEach((e, i) => {
    if (e.op === 'write' && e.path === data) lastWrite = i
    if (e.op === 'sync') {
      synced.add(e.path)
      if (e.path === data) lastDataSync = i
    }
    // A new generation renamed onto the data path is data too.
    if (e.op === 'rename' && e.to === data) lastWrite = i
    if (e.op === 'rename' && e.to === record) {
      records++
      t.true(synced.has(e.from), `record temp ${e.from} renamed before it was synced`)
      if (records > 1) {
        t.true(lastWrite >= 0, 'no data write was traced')
        t.true(
          lastDataSync > lastWrite,
          `record ${records} renamed at event ${i} before the data was synced (last write ${lastWrite}, last data sync ${lastDataSync})`,
        )
      }
    }
  })
  t.true(records >= minRecords, `expected at least ${minRecords} record renames, saw ${records}`)
}

/** `from` is synced before it is renamed onto `to`, and the directory is synced after. */
function assertSyncRenameSyncDir(
  t: ExecutionContext,
  events: Event[],
  dir: string,
  matchFrom: RegExp,
  to: string,
): void {
  const rename = events.findIndex((e) => e.op === 'rename' && e.to === to && matchFrom.test(e.from))
  t.true(rename >= 0, `no rename onto ${to}: ${JSON.stringify(events)}`)
  const from = (events[rename] as { from: string }).from
  const synced = events.findIndex((e) => e.op === 'sync' && e.path === from)
  t.true(synced >= 0 && synced < rename, `${from} was not synced before its rename`)
  const dirSynced = events.findIndex((e, i) => i > rename && e.op === 'sync' && e.path === dir)
  t.true(dirSynced > rename, 'the directory was not synced after the rename')
}

const strace = hasStrace ? test : test.skip
if (!hasStrace) {
  test('the write-barrier tests need strace', (t) => {
    t.fail('install strace (Debian: apt-get install strace); these tests read the order of fsync and rename')
  })
}

strace('commit: the committed record is renamed only after the data file is synced', (t) => {
  const { dir, events } = traced(t, 'commit')
  assertRecordsFollowData(t, dir, events, 2)
})

strace('close without commit: the last record follows a sync of the data', (t) => {
  const { dir, events } = traced(t, 'close')
  assertRecordsFollowData(t, dir, events, 2)
})

strace('flush: data synced, then the record', (t) => {
  const { dir, events } = traced(t, 'flush')
  assertRecordsFollowData(t, dir, events, 2)
})

strace('a rewrite: the new generation is synced before the record that describes it', (t) => {
  const { dir, events } = traced(t, 'rewrite')
  const data = join(dir, 'data.bin')
  const swap = events.findIndex((e) => e.op === 'rename' && e.to === data)
  t.true(swap >= 0, 'the rewrite did not go through a new generation')
  t.true(
    events.some((e, i) => i > swap && e.op === 'rename' && e.to === `${data}.ranges`),
    'no record describes the new generation',
  )
  assertRecordsFollowData(t, dir, events, 2)
})

strace('AtomicChunked commit: <path>.tmp synced, renamed onto <path>, directory synced', (t) => {
  const { dir, events } = traced(t, 'chunked')
  const path = join(dir, 'data.bin')
  assertSyncRenameSyncDir(t, events, dir, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp$`), path)
})

strace('writeAllDurable: the temp synced, renamed over the file, directory synced', (t) => {
  const { dir, events } = traced(t, 'durable', (d) => writeFileSync(join(d, 'data.bin'), 'old'))
  assertSyncRenameSyncDir(t, events, dir, /\/\.data\.bin\.[^/]+\.atomic$/, join(dir, 'data.bin'))
})
