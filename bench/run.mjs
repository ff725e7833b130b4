// `npm run bench`: runs every benchmark group in its own child process, one
// after the other (2 cores: running them side by side would measure the
// contention), prints one table of ratios with the targets of issue 6 and
// writes <group>.json plus summary.json into bench/out/ (ignored by git).
//
// Options: `--record` writes into bench/results/ (committed) instead and puts
// the table into BENCHMARKS.md; `--skip-rust` (the Rust table is then read
// from the last rust.json, if there is one); `--only GROUP[,GROUP]`.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from './lib.mjs'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(benchDir)
const args = process.argv.slice(2)
const record = args.includes('--record')
const recordedDir = path.join(benchDir, 'results')
const resultsDir = record ? recordedDir : path.join(benchDir, 'out')
fs.mkdirSync(resultsDir, { recursive: true })
const skipRust = args.includes('--skip-rust')
const onlyArg = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null
if (record && onlyArg) {
  console.error('bench: --record writes the whole table; run it without --only')
  process.exit(2)
}
const wanted = (g) => !onlyArg || onlyArg.includes(g)

const started = Date.now()
const log = (...a) => process.stderr.write(`${a.join(' ')}\n`)

/** Runs one group's script in a child node process and returns its result object. */
function runGroup(group, script, { nodeArgs = [], scriptArgs = [], env = {} } = {}) {
  const t0 = Date.now()
  log(`[bench] ${group}: node ${[...nodeArgs, script, ...scriptArgs].join(' ')}`)
  const child = spawnSync(process.execPath, [...nodeArgs, path.join(benchDir, script), ...scriptArgs], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    timeout: 180_000,
  })
  const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith('@@BENCH@@'))
  if (child.status !== 0 || !line) {
    log(`[bench] ${group} failed (status ${child.status}, signal ${child.signal})`)
    log(child.stdout ?? '')
    return null
  }
  const result = JSON.parse(line.slice('@@BENCH@@'.length))
  result.seconds = (Date.now() - t0) / 1000
  fs.writeFileSync(path.join(resultsDir, `${group}.json`), `${JSON.stringify(result, null, 2)}\n`)
  return result
}

/** Builds (once, untimed) and runs the Rust comparison; returns rust.json's contents. */
function runRust() {
  let rustJson = path.join(resultsDir, 'rust.json')
  if (!skipRust) {
    // A first build takes minutes: do it before the clock that matters.
    const b0 = Date.now()
    log('[bench] rust: cargo build --release (a no-op when already built)')
    const build = spawnSync(
      'cargo',
      ['build', '--release', '--locked', '--quiet', '--manifest-path', 'bench/rust/Cargo.toml'],
      { cwd: root, stdio: 'inherit' },
    )
    buildSeconds = (Date.now() - b0) / 1000
    if (build.status !== 0) {
      log('[bench] rust build failed; using the last rust.json if any')
    } else {
      const t0 = Date.now()
      log('[bench] rust: bench/rust/run.sh')
      const run = spawnSync('sh', ['bench/rust/run.sh', '--out', rustJson], {
        cwd: root,
        // Its own table goes to stderr: stdout carries only the merged table.
        stdio: ['ignore', 2, 2],
        timeout: 240_000,
      })
      if (run.status !== 0) log(`[bench] rust run failed (status ${run.status})`)
      rustSeconds = (Date.now() - t0) / 1000
    }
  }
  if (skipRust && !fs.existsSync(rustJson)) rustJson = path.join(recordedDir, 'rust.json')
  if (!fs.existsSync(rustJson)) return null
  if (skipRust) log(`[bench] rust: --skip-rust, using ${path.relative(root, rustJson)}`)
  return JSON.parse(fs.readFileSync(rustJson, 'utf8'))
}
let buildSeconds = 0
let rustSeconds = 0

const wasmHelper = path.join(benchDir, 'wasm-vs-native.mjs')

const results = {}
if (wanted('io')) results.io = runGroup('io', 'io.mjs')
if (wanted('stream')) results.stream = runGroup('stream', 'stream.mjs')
if (wanted('wake')) results.wake = runGroup('wake', 'wake.mjs')
if (wanted('processes')) results.processes = runGroup('processes', 'processes.mjs')
if (wanted('waiters')) results.waiters = runGroup('waiters', 'waiters.mjs', { nodeArgs: ['--expose-gc'] })
if (wanted('wasm')) {
  // Same script and workload on both backends, each in a fresh process.
  results.wasmNative = runGroup('wasm-native', 'io.mjs', {
    scriptArgs: ['--only', 'mem4k'],
    env: { KITHARA_STORAGE_BACKEND: 'native' },
  })
  results.wasm = runGroup('wasm', 'io.mjs', {
    scriptArgs: ['--only', 'mem4k'],
    env: { KITHARA_STORAGE_BACKEND: 'wasm' },
  })
}
if (wanted('wasm') && fs.existsSync(wasmHelper)) {
  // The wasm helper's own comparison (sequential slots of a 4 MiB resource, best of passes).
  log('[bench] wasm-helper: node bench/wasm-vs-native.mjs --json')
  const t0 = Date.now()
  const child = spawnSync(process.execPath, [wasmHelper, '--json'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  try {
    results.wasmHelper = JSON.parse(child.stdout)
    results.wasmHelper.seconds = (Date.now() - t0) / 1000
    fs.writeFileSync(path.join(resultsDir, 'wasm-helper.json'), `${JSON.stringify(results.wasmHelper, null, 2)}\n`)
  } catch {
    log(`[bench] wasm-vs-native.mjs failed: ${child.stderr}`)
  }
}
if (wanted('serve')) results.serve = runGroup('serve', 'serve.mjs')
if (wanted('read-stream')) results.readStream = runGroup('read-stream', 'read-stream.mjs')
if (wanted('rust')) results.rust = runRust()

// ---------------------------------------------------------------------------
// The table.

const rows = []
const find = (group, name) => results[group]?.cases.find((c) => c.name === name)

/** One comparison row: `ours` and `base` in `unit`, ratio as the target states it. */
function row({ group, name, ours, base, baseName, unit, ratio, ratioLabel, target, pass }) {
  rows.push({ group, name, ours, base, baseName, unit, ratio, ratioLabel, target, pass })
}

const fmt = (v, unit) => {
  if (v === undefined || v === null || Number.isNaN(v)) return '-'
  if (unit === 'MB/s') return `${v.toFixed(0)} MB/s`
  if (unit === 'us') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} µs`
  if (unit === 'ms') return `${v.toFixed(2)} ms`
  if (unit === 'MB') return `${v.toFixed(2)} MB`
  if (unit === 'ns/call' || unit === 'ns/op') return `${v.toFixed(0)} ns`
  if (unit === 'KiB gzip') return `${v.toFixed(0)} KiB gzip`
  if (unit === 'req/s') return `${v.toFixed(0)} req/s`
  if (unit === 'MiB') return `${v.toFixed(1)} MiB`
  return `${v.toFixed(2)} ${unit}`
}

if (results.io) {
  // 4 KiB: the call floor and the memcpy, then each operation as a multiple
  // of floor + memcpy (same offsets, interleaved rounds; the ratio is the
  // median of per-round ratios; spread = min..max of
  // the rounds' ns per operation).
  const floor = find('io', 'floor binding')
  const floorFacade = find('io', 'floor facade')
  const spread = (c) => `${c.nsMin.toFixed(0)}..${c.nsMax.toFixed(0)} ns`
  if (floor) {
    row({
      group: 'io',
      name: 'call floor: isClosed() through the binding',
      ours: floor.nsPerOp,
      unit: 'ns/call',
      baseName: `rounds ${spread(floor)}; via the facade ${floorFacade?.nsPerOp.toFixed(0) ?? '-'} ns`,
      target: '',
    })
  }
  for (const op of ['writeAt', 'readAt']) {
    const copy = find('io', `${op} 4KiB memcpy`)
    const bufferCopy = find('io', `${op} 4KiB Buffer.copy`)
    if (copy) {
      row({
        group: 'io',
        name: `memcpy 4KiB (Uint8Array set, ${op === 'writeAt' ? 'into' : 'out of'} the span)`,
        ours: copy.nsPerOp,
        unit: 'ns/op',
        baseName: `rounds ${spread(copy)}; Buffer.copy ${bufferCopy?.nsPerOp.toFixed(0) ?? '-'} ns`,
        target: '',
      })
    }
  }
  for (const op of ['writeAt', 'readAt']) {
    const copy = find('io', `${op} 4KiB memcpy`)
    const fsCase = find('io', `${op} 4KiB fs`)
    for (const kind of ['mmap', 'mem', 'mmap (binding only)', 'mem (binding only)']) {
      const ours = find('io', `${op} 4KiB ${kind}`)
      if (!ours || !copy || !floor) continue
      const base = floor.nsPerOp + copy.nsPerOp
      // Paired per round (the three were timed moments apart), then the median.
      const r = median(ours.rounds.map((ns, i) => ns / (floor.rounds[i] + copy.rounds[i])))
      const isTarget = !ours.diagnostic
      row({
        group: 'io',
        name: `${op} 4KiB ${kind}`,
        ours: ours.nsPerOp,
        base,
        baseName: `floor + memcpy (ours ${spread(ours)})`,
        unit: 'ns/op',
        ratio: r,
        ratioLabel: 'x floor+copy',
        target: isTarget ? '≤ 1.3x' : '',
        pass: isTarget ? r <= 1.3 : undefined,
      })
      if (kind === 'mmap' && fsCase) {
        const vsFs = fsCase.nsPerOp / ours.nsPerOp
        row({
          group: 'io',
          name: `${op} 4KiB ${kind}`,
          ours: ours.p50,
          base: fsCase.p50,
          baseName: `fs.${op === 'readAt' ? 'readSync' : 'writeSync'}`,
          unit: 'MB/s',
          ratio: vsFs,
          ratioLabel: 'x fs',
          target: '≥ 3x fs',
          pass: vsFs >= 3,
        })
      }
    }
  }
  for (const op of ['writeAt', 'readAt']) {
    const get = (c) => find('io', `${op} 1MiB ${c}`)
    for (const kind of ['mmap', 'mem']) {
      const ours = get(kind)
      const fsCase = get('fs')
      const copy = get('Buffer.copy')
      if (!ours) continue
      row({
        group: 'io',
        name: `${op} 1MiB ${kind}`,
        ours: ours.p50,
        base: fsCase.p50,
        baseName: `fs.${op === 'readAt' ? 'readSync' : 'writeSync'}`,
        unit: 'MB/s',
        ratio: ours.p50 / fsCase.p50,
        ratioLabel: 'x fs',
        target: '',
      })
      const slower = copy.p50 / ours.p50
      const isTargetCopy = kind === 'mmap'
      row({
        group: 'io',
        name: `${op} 1MiB ${kind}`,
        ours: ours.p50,
        base: copy.p50,
        baseName: 'Buffer.copy',
        unit: 'MB/s',
        ratio: slower,
        ratioLabel: 'x slower than copy',
        target: isTargetCopy ? '≤ 1.25x slower' : '',
        pass: isTargetCopy ? slower <= 1.25 : undefined,
      })
    }
  }
}

if (results.stream) {
  const ours = find('stream', 'stream 256MiB mmap, worker reader')
  const base = find('stream', 'stream 256MiB two Buffer.copy')
  const r = ours.p50 / base.p50
  row({
    group: 'stream',
    name: 'stream 256 MiB, 64 KiB chunks, worker reader',
    ours: ours.p50,
    base: base.p50,
    baseName: '2x Buffer.copy',
    unit: 'MB/s',
    ratio: r,
    ratioLabel: 'x memcpy pair',
    target: '≥ 0.5x',
    pass: r >= 0.5,
  })
}

if (results.wake) {
  const w = find('wake', 'wake worker waitRangeSync')
  const a = find('wake', 'wake worker Atomics.wait')
  for (const p of ['p50', 'p99']) {
    const r = w[p] / a[p]
    row({
      group: 'wake',
      name: `worker wake ${p} (waitRangeSync)`,
      ours: w[p],
      base: a[p],
      baseName: 'Atomics.wait',
      unit: 'us',
      ratio: r,
      ratioLabel: 'x Atomics',
      target: p === 'p50' ? '≤ 1.4x' : '',
      pass: p === 'p50' ? r <= 1.4 : undefined,
    })
  }
  /** A p50 diagnostic row (no target): `name`'s case against `base`. */
  const diagnostic = (label, name, base, baseName, ratioLabel = `x ${baseName}`) => {
    const c = find('wake', name)
    if (!c || !base) return
    row({
      group: 'wake',
      name: label,
      ours: c.p50,
      base: base.p50,
      baseName,
      unit: 'us',
      ratio: c.p50 / base.p50,
      ratioLabel,
      target: '',
    })
  }
  diagnostic(
    'worker wake p50 (Atomics.wait, a writeAt before the notify)',
    'wake worker Atomics.wait after writeAt',
    a,
    'Atomics.wait',
    'x Atomics',
  )
  // Where the waking call's time goes: one call after the same idle.
  const notify = find('wake', 'cold Atomics.notify')
  for (const [name, label] of [
    ['cold isClosed (binding method)', 'one call after 0.3 ms idle p50: isClosed() (a class method)'],
    ['cold sharedRegistrySize (binding function)', 'one call after 0.3 ms idle p50: a binding function'],
    ['cold writeAt 1 B (binding method)', 'one call after 0.3 ms idle p50: writeAt 1 B'],
  ]) {
    diagnostic(label, name, notify, 'Atomics.notify')
  }
  const s = find('wake', 'wake same-thread await waitRange')
  const e = find('wake', 'wake same-thread EventEmitter')
  for (const p of ['p50', 'p99']) {
    row({
      group: 'wake',
      name: `same-thread await waitRange ${p}`,
      ours: s[p],
      base: e[p],
      baseName: 'EventEmitter',
      unit: 'us',
      ratio: s[p] / e[p],
      ratioLabel: 'x EventEmitter',
      target: p === 'p50' ? '< 100 µs' : '',
      pass: p === 'p50' ? s[p] < 100 : undefined,
    })
  }
}

if (results.processes) {
  const across = find('processes', 'wake across processes (follower await waitRange)')
  const local = find('processes', 'wake in process (await waitRange)')
  for (const p of ['p50', 'p99']) {
    row({
      group: 'processes',
      name: `follower wake ${p} (writer in another process)`,
      ours: across[p],
      base: local[p],
      baseName: 'writer in a worker thread',
      unit: 'us',
      ratio: across[p] / local[p],
      ratioLabel: 'x in-process',
      target: '',
    })
  }
  for (const size of ['4KiB', '64KiB']) {
    for (const layer of ['core write_at', 'writeAt']) {
      const plain = find('processes', `${layer} ${size} no persistRanges`)
      if (!plain) continue
      const others = results.processes.cases.filter(
        (c) => c.name.startsWith(`${layer} ${size} persistRanges`) && c.unit === 'ns/op',
      )
      for (const c of others) {
        row({
          group: 'processes',
          name: c.name,
          ours: c.p50,
          base: plain.p50,
          baseName: 'no persistRanges',
          unit: 'ns/op',
          ratio: c.p50 / plain.p50,
          ratioLabel: 'x unpublished',
          target: '',
        })
      }
    }
  }
}

if (results.waiters) {
  const m = results.waiters.cases[0]
  const t = results.waiters.cases[1]
  row({
    group: 'waiters',
    name: `${results.waiters.waiters} pending waitRange: memory`,
    ours: m.p50,
    unit: 'MB',
    baseName: `${m.bytesPerWaiter.toFixed(0)} B/waiter (js ${(m.jsBytes / 1e6).toFixed(2)} MB, rss ${(m.rssBytes / 1e6).toFixed(2)} MB)`,
    target: '< 10 MB',
    pass: m.p50 < 10,
  })
  row({
    group: 'waiters',
    name: `${results.waiters.waiters} pending waitRange: resolve all by one write`,
    ours: t.p50,
    unit: 'ms',
    target: '< 50 ms',
    pass: t.p50 < 50,
  })
}

if (results.wasm && results.wasmNative) {
  const wasmFloor = find('wasm', 'floor binding')
  const nativeFloor = find('wasmNative', 'floor binding')
  if (wasmFloor && nativeFloor) {
    row({
      group: 'wasm',
      name: 'call floor: isClosed(), wasm backend',
      ours: wasmFloor.nsPerOp,
      base: nativeFloor.nsPerOp,
      baseName: 'native backend',
      unit: 'ns/call',
      ratio: wasmFloor.nsPerOp / nativeFloor.nsPerOp,
      ratioLabel: 'x native',
      target: '',
    })
  }
  for (const op of ['writeAt', 'readAt']) {
    const wasm = find('wasm', `${op} 4KiB mem`)
    const native = find('wasmNative', `${op} 4KiB mem`)
    row({
      group: 'wasm',
      name: `${op} 4KiB mem, wasm backend`,
      ours: wasm.p50,
      base: native.p50,
      baseName: 'native backend',
      unit: 'MB/s',
      ratio: wasm.p50 / native.p50,
      ratioLabel: 'x native',
      target: '',
    })
  }
}

if (results.wasmHelper?.results?.wasm?.writeNs && results.wasmHelper.results.native?.writeNs) {
  const { wasm, native } = results.wasmHelper.results
  for (const [op, key] of [
    ['writeAt', 'writeNs'],
    ['readAt', 'readNs'],
  ]) {
    row({
      group: 'wasm',
      name: `${op} 4KiB mem seq, wasm (wasm-vs-native.mjs)`,
      ours: wasm[key],
      base: native[key],
      baseName: 'native',
      unit: 'ns/op',
      ratio: wasm[key] / native[key],
      ratioLabel: 'x native time',
      target: '',
    })
  }
  const size = results.wasmHelper.wasmSize
  if (size) {
    row({
      group: 'wasm',
      name: 'wasm module size',
      ours: size.gzipBytes / 1024,
      unit: 'KiB gzip',
      baseName: `${(size.rawBytes / 1024).toFixed(0)} KiB raw`,
      target: '',
    })
  }
}

if (results.serve) {
  const whole = find('serve', 'whole 256MiB serveRange')
  const wholeFs = find('serve', 'whole 256MiB fs.createReadStream')
  const r = whole.p50 / wholeFs.p50
  row({
    group: 'serve',
    name: 'GET committed 256 MiB file (curl)',
    ours: whole.p50,
    base: wholeFs.p50,
    baseName: 'fs.createReadStream().pipe(res)',
    unit: 'MB/s',
    ratio: r,
    ratioLabel: 'x fs stream',
    target: '≥ 1x',
    pass: r >= 1,
  })
  const ranges = find('serve', 'ranges 64KiB serveRange')
  const rangesFs = find('serve', 'ranges 64KiB fs.createReadStream')
  row({
    group: 'serve',
    name: '400 random 64 KiB ranges, keep-alive (curl)',
    ours: ranges.p50,
    base: rangesFs.p50,
    baseName: 'hand-written 206 + fs stream',
    unit: 'req/s',
    ratio: ranges.p50 / rangesFs.p50,
    ratioLabel: 'x fs stream',
    target: '',
  })
  const ttfb = find('serve', 'ttfb tail via proxy')
  const ttfbOrigin = find('serve', 'ttfb tail from origin')
  const present = find('serve', 'present when tail served')
  row({
    group: 'serve',
    name: 'first byte of the last 64 KiB, 0.3 s into a 64 MiB download',
    ours: ttfb.p50,
    base: ttfbOrigin.p50,
    baseName: 'straight from the origin',
    unit: 'ms',
    ratio: ttfb.p50 / ttfbOrigin.p50,
    ratioLabel: 'x origin',
    target: '',
  })
  row({
    group: 'serve',
    name: 'of which present when the tail was served',
    ours: present.p50 / (1024 * 1024),
    unit: 'MiB',
    baseName: 'of 64 MiB (demand priority: the tail does not wait for the rest)',
    target: '',
  })
}

if (results.readStream) {
  const ours = find('readStream', 'first byte, read stream')
  const base = find('readStream', 'first byte, whole-chunk wait')
  const r = base.p50 / ours.p50
  row({
    group: 'read-stream',
    name: 'first byte of a read stream (1 MiB chunks) over a 3 MB/s writer',
    ours: ours.p50,
    base: base.p50,
    baseName: 'waitRange of a whole chunk',
    unit: 'ms',
    ratio: r,
    ratioLabel: 'x sooner',
    target: '',
  })
}

if (results.rust) {
  for (const c of results.rust.cases) {
    const throughput = c.unit === 'MB/s'
    const cancel = c.case.startsWith('wake after cancel')
    row({
      group: 'rust',
      name: c.case,
      ours: c.ours.p50,
      base: c.seed.p50,
      baseName: 'seed 0.0.1-alpha2',
      unit: c.unit,
      ratio: c.ratio,
      ratioLabel: 'x faster than seed',
      // "At least equal": equal within the run-to-run noise of a p50 on a
      // shared 2-core machine (about ±5%, see BENCHMARKS.md).
      target: cancel ? '≥ 20x' : throughput ? '≥ 1x (±5%)' : '',
      pass: cancel ? c.ratio >= 20 : throughput ? c.ratio >= 0.95 : undefined,
    })
  }
}

// ---------------------------------------------------------------------------
// Print and write.

const header = ['group', 'case', 'ours', 'baseline', 'ratio', 'target', '']
const lines = rows.map((r) => [
  r.group,
  r.name,
  fmt(r.ours, r.unit),
  r.base === undefined ? (r.baseName ?? '') : `${fmt(r.base, r.unit)} ${r.baseName}`,
  r.ratio === undefined ? '' : `${r.ratio.toFixed(2)} ${r.ratioLabel}`,
  r.target,
  r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS',
])
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
const md = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
const table = [md(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(md)].join('\n')

const totalSeconds = (Date.now() - started) / 1000
const load = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')
process.stdout.write(`\n${table}\n\n`)
process.stdout.write(
  `total ${totalSeconds.toFixed(1)} s (rust build ${buildSeconds.toFixed(1)} s, rust run ${rustSeconds.toFixed(1)} s), load average ${load}\n`,
)
const misses = rows.filter((r) => r.pass === false)
process.stdout.write(`${rows.filter((r) => r.pass).length} PASS, ${misses.length} MISS\n`)

fs.writeFileSync(
  path.join(resultsDir, 'summary.json'),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      loadavg: os.loadavg(),
      totalSeconds,
      rustBuildSeconds: buildSeconds,
      rows,
      table,
    },
    null,
    2,
  )}\n`,
)

// ---------------------------------------------------------------------------
// --record: the table goes into BENCHMARKS.md, between its markers.

if (record) {
  const doc = path.join(root, 'BENCHMARKS.md')
  const begin = '<!-- bench:latest -->'
  const end = '<!-- /bench:latest -->'
  const text = fs.readFileSync(doc, 'utf8')
  const from = text.indexOf(begin)
  const to = text.indexOf(end)
  if (from < 0 || to < from) {
    log(`[bench] BENCHMARKS.md lacks the ${begin} … ${end} markers; table not recorded there`)
    process.exitCode = 1
  } else {
    const day = new Date().toISOString().slice(0, 10)
    const heading = `\`npm run bench -- --record\`, ${day}, total ${totalSeconds.toFixed(1)} s (rust build ${buildSeconds.toFixed(1)} s, rust run ${rustSeconds.toFixed(1)} s), load average ${load}`
    fs.writeFileSync(doc, `${text.slice(0, from + begin.length)}\n${heading}\n\n${table}\n\n${text.slice(to)}`)
    log('[bench] recorded: bench/results/ and BENCHMARKS.md')
  }
}
