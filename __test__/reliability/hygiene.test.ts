/**
 * Resource hygiene, in `node --expose-gc` children: open/write/close cycles
 * keep RSS, the number of mappings (/proc/self/maps lines) and open file
 * descriptors (/proc/self/fd) flat; resources dropped without close()
 * release their mapping and file once collected.
 *
 * npm test: 100,000 MemResource cycles and 20,000 MmapResource cycles (a
 * file create + unlink each); `npm run test:long` (KITHARA_HYGIENE_CYCLES)
 * runs 100,000 of both.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import test from 'ava'
import { scratchDir } from './util.js'

const CHILD = join(__dirname, 'hygiene-child.mjs')
const LONG = process.env.KITHARA_HYGIENE_CYCLES ? Number(process.env.KITHARA_HYGIENE_CYCLES) : undefined
const MIB = 1024 * 1024

interface Sample {
  rss: number
  maps: number
  fds: number
}

function child(args: string[]): Record<string, unknown> {
  const res = spawnSync(process.execPath, ['--expose-gc', CHILD, ...args], { encoding: 'utf8', timeout: 600_000 })
  if (res.status !== 0) throw new Error(`hygiene child ${args.join(' ')}: ${res.signal ?? res.status} ${res.stderr}`)
  return JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}')
}

const linux = process.platform === 'linux'
const onLinux = linux ? test : test.skip

for (const [kind, n, drop] of [
  ['mem', LONG ?? 100_000, false],
  ['mmap', LONG ?? 20_000, false],
  ['mem', LONG ?? 20_000, true],
] as const) {
  onLinux(`hygiene: ${n} ${kind} cycles${drop ? ' dropped without close()' : ''} keep RSS, maps and fds flat`, (t) => {
    t.timeout(600_000)
    const dir = scratchDir(t, 'hygiene')
    const out = child(['cycles', kind, String(n), dir, ...(drop ? ['drop'] : [])])
    const before = out.before as Sample
    const half = out.half as Sample
    const after = out.after as Sample
    t.log(
      `RSS ${(before.rss / MIB).toFixed(1)} → ${(half.rss / MIB).toFixed(1)} → ${(after.rss / MIB).toFixed(1)} MiB, ` +
        `maps ${before.maps} → ${after.maps}, fds ${before.fds} → ${after.fds}`,
    )
    // A leak grows with the cycle count: the second half must add (almost) nothing.
    t.true(after.rss - half.rss < 16 * MIB, 'RSS grows in the second half')
    if (!drop) t.true(after.rss - before.rss < 32 * MIB, 'RSS grows')
    // Slack for the allocator and V8 mapping a few more regions.
    t.true(after.maps - before.maps <= 32, 'mappings grow')
    t.true(after.fds - before.fds <= 2, 'file descriptors leak')
  })
}

onLinux('hygiene: MmapResources dropped without close() release mapping and fd after gc()', (t) => {
  const dir = scratchDir(t, 'gc')
  const out = child(['gc', dir, '200'])
  t.log(JSON.stringify(out))
  t.is(out.mappedBefore, 200)
  // Two per writer: the mapped file's, and the writer lock's own descriptor.
  t.is(out.fdsBefore, 400)
  t.is(out.mappedAfter, 0)
  t.is(out.fdsAfter, 0)
})
