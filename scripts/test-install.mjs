#!/usr/bin/env node
// Proves the install path users get: the tarballs of `npm run pack:local`,
// installed into an empty project by npm with no Rust toolchain on PATH, work
// from CommonJS, from ES modules and from TypeScript (--strict, nodenext).
//
//   node scripts/test-install.mjs            packs with --skip-build (run after `npm run build`)
//   node scripts/test-install.mjs --build    builds first
//   node scripts/test-install.mjs --no-pack  reuses artifacts/ as it is
//
// The install is the one a user runs: `npm install <main.tgz> <platform.tgz>`
// with optional dependencies on. The main tarball lists every platform package
// in optionalDependencies (pack-local adds them); the other targets' packages
// are not published, so npm's look-up
// of them ends in a 404 or a network error; npm skips optional dependencies it
// cannot fetch, and the one for this platform is satisfied by the tarball
// given on the command line (same name, same version). `--fetch-retries=0`
// keeps a machine without a registry from waiting on retries.
//
// Prints "N passed, N failed" last; exits 1 on any failure.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const argv = new Set(process.argv.slice(2))
const keep = argv.has('--keep')

let passed = 0
let failed = 0
function check(name, fn) {
  try {
    const detail = fn()
    passed++
    console.log(`ok - ${name}${detail ? ` (${detail})` : ''}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}`)
    console.log(String(error.stderr || error.stdout || error.message || error).replace(/^/gm, '    '))
  }
}

// 1. Tarballs.
let tarballs
if (argv.has('--no-pack')) {
  const files = readdirSync(join(root, 'artifacts')).filter((f) => f.endsWith('.tgz'))
  const main = files.find((f) => /^kithara-storage-\d/.test(f))
  const platform = files.find((f) => f !== main)
  if (!main || !platform) throw new Error('artifacts/ lacks the tarballs: run npm run pack:local')
  tarballs = { main: join(root, 'artifacts', main), platform: join(root, 'artifacts', platform) }
  const manifest = execFileSync('tar', ['-xOzf', tarballs.platform, 'package/package.json'], { encoding: 'utf8' })
  tarballs.platformPackage = JSON.parse(manifest).name
} else {
  const out = execFileSync(
    process.execPath,
    [join(root, 'scripts', 'pack-local.mjs'), ...(argv.has('--build') ? [] : ['--skip-build'])],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  )
  tarballs = JSON.parse(out.trim().split('\n').pop())
}

// 2. A sandbox: an empty project and a PATH holding only node, npm and sh,
// so neither cargo nor rustc can be found (Debian puts cargo in /usr/bin).
const sandbox = mkdtempSync(join(tmpdir(), 'kithara-install-'))
const bin = join(sandbox, 'bin')
const project = join(sandbox, 'project')
mkdirSync(bin)
mkdirSync(project)
const which = (cmd) => execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim()
for (const tool of ['node', 'npm', 'sh']) symlinkSync(which(tool), join(bin, tool))

const env = {}
for (const [key, value] of Object.entries(process.env)) {
  // Drop the Rust toolchain's variables and npm's per-run config (from `npm run`).
  if (/^(CARGO|RUSTC|RUSTUP|RUSTFLAGS|npm_)/i.test(key)) continue
  env[key] = value
}
env.PATH = bin
env.KITHARA_STORAGE_BACKEND = 'native' // the test is about the prebuilt binary: no wasm fallback

writeFileSync(
  join(project, 'package.json'),
  `${JSON.stringify({ name: 'kithara-install-check', version: '1.0.0', private: true, type: 'commonjs' }, null, 2)}\n`,
)

const run = (cmd, args, extraEnv = {}) =>
  execFileSync(cmd, args, { cwd: project, env: { ...env, ...extraEnv }, encoding: 'utf8', stdio: 'pipe' })

check('no cargo or rustc on the sandbox PATH', () => {
  for (const tool of ['cargo', 'rustc']) {
    const r = spawnSync(tool, ['--version'], { env })
    if (!r.error || r.error.code !== 'ENOENT') throw new Error(`${tool} is reachable`)
  }
})

check('npm install <main.tgz> <platform.tgz>', () => {
  run('npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--fetch-retries=0',
    '--fetch-timeout=30000',
    tarballs.main,
    tarballs.platform,
  ])
  const nodeDir = join(project, 'node_modules', tarballs.platformPackage)
  const binaries = readdirSync(nodeDir).filter((f) => f.endsWith('.node'))
  if (binaries.length !== 1) throw new Error(`${tarballs.platformPackage} holds ${binaries.join(', ') || 'no binary'}`)
  const mainDir = join(project, 'node_modules', '@kithara', 'storage')
  if (existsSync(join(mainDir, 'src')) || existsSync(join(mainDir, 'crates'))) throw new Error('sources were installed')
  // Added at pack time (the repository's package.json does not list them).
  const optional = JSON.parse(readFileSync(join(mainDir, 'package.json'), 'utf8')).optionalDependencies ?? {}
  if (!(tarballs.platformPackage in optional))
    throw new Error(`the main package does not list ${tarballs.platformPackage}`)
  return `${tarballs.platformPackage}/${binaries[0]}`
})

const usage = (load) => `
  ${load}
  const assert = require('node:assert')
  const { tmpdir } = require('node:os')
  const { join } = require('node:path')
  const { mkdtempSync, rmSync } = require('node:fs')
  async function main() {
    assert.equal(api.backendName(), 'native')
    const token = new api.CancellationToken()
    const mem = api.MemResource.open(token)
    const waiting = mem.waitRange(0, 4)
    mem.writeAt(0, new Uint8Array([1, 2, 3, 4]))
    assert.equal(await waiting, api.WaitOutcome.Ready)
    mem.commit(4)
    assert.deepEqual([...mem.readAll()], [1, 2, 3, 4])
    assert.equal(await mem.waitRange(4, 8), 'eof')
    mem.close()
    const dir = mkdtempSync(join(tmpdir(), 'kithara-install-mmap-'))
    try {
      const file = api.Resource.open(token, { path: join(dir, 'data.bin') })
      assert.ok(file instanceof api.MmapResource)
      file.writeAll(new TextEncoder().encode('hello'))
      const buf = new Uint8Array(5)
      assert.equal(file.readAt(0, buf), 5)
      assert.equal(new TextDecoder().decode(buf), 'hello')
      file.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      api.MemResource.open(token).readAt(-1, new Uint8Array(1))
      assert.fail('no error')
    } catch (e) {
      assert.equal(e.code, 'ERR_OUT_OF_RANGE')
    }
    console.log('ok')
  }
  main().catch((e) => { console.error(e); process.exit(1) })
`

check('CommonJS: require("@kithara/storage")', () => {
  writeFileSync(join(project, 'check.cjs'), usage(`const api = require('@kithara/storage')`))
  const out = run('node', ['check.cjs']).trim()
  if (out !== 'ok') throw new Error(out)
})

check('ES module: import * from "@kithara/storage"', () => {
  writeFileSync(
    join(project, 'check.mjs'),
    usage(
      `import * as api from '@kithara/storage'\nimport { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)`,
    ),
  )
  const out = run('node', ['check.mjs']).trim()
  if (out !== 'ok') throw new Error(out)
})

check('the binary is found without KITHARA_STORAGE_BACKEND', () => {
  const out = run('node', ['-e', `console.log(require('@kithara/storage').backendName())`], {
    KITHARA_STORAGE_BACKEND: '',
  }).trim()
  if (out !== 'native') throw new Error(`backend is ${out}`)
})

check('the WebAssembly fallback ships in the main package and loads', () => {
  const script = `const api = require('@kithara/storage')
    const r = api.MemResource.open(new api.CancellationToken())
    r.writeAll(new Uint8Array([5, 6]))
    console.log(api.backendName() + ' ' + [...r.readAll()].join(','))`
  const out = run('node', ['-e', script], { KITHARA_STORAGE_BACKEND: 'wasm' }).trim()
  if (out !== 'wasm 5,6') throw new Error(out)
})

check('TypeScript: tsc --strict --module nodenext --moduleResolution nodenext', () => {
  // A typical consumer has typescript and @types/node; taken from this repo so
  // the check needs no registry.
  for (const dep of ['@types/node', 'undici-types']) {
    cpSync(join(root, 'node_modules', dep), join(project, 'node_modules', dep), { recursive: true })
  }
  const body = `
const token = new CancellationToken()
const opts: MmapOptions = { path: '/tmp/x.bin', mode: OpenMode.Auto }
const file: MmapResource = Resource.open(token, opts)
const mem: MemResource = Resource.open(token, { capacity: 16 } satisfies MemOptions)
const any: StorageResource = StorageResource.from(file)
const status: ResourceStatus = mem.status()
if (status.kind === 'committed') {
  const n: number | null = status.finalLen
  void n
}
async function use(r: MemResource, signal: AbortSignal): Promise<number> {
  const outcome: WaitOutcome = await r.waitRange(0, 4, { signal, timeoutMs: 10 })
  const buf = new Uint8Array(4)
  const read: number = r.readAt(0, buf)
  const all: Buffer = r.readAll()
  return outcome === 'ready' ? read + all.length : 0
}
function code(e: unknown): string | undefined {
  return e instanceof StorageError ? e.code : undefined
}
void any
void use
void code
// @ts-expect-error offsets are numbers
mem.writeAt('0', new Uint8Array(1))
// @ts-expect-error a path is a string
MmapResource.open(token, { path: 1 })
`
  const imports = `{ CancellationToken, MemResource, MmapResource, OpenMode, Resource, StorageError, StorageResource, type MemOptions, type MmapOptions, type ResourceStatus, type WaitOutcome } from '@kithara/storage'`
  writeFileSync(join(project, 'check-cjs.ts'), `import ${imports}\n${body}`)
  writeFileSync(join(project, 'check-esm.mts'), `import ${imports}\n${body}`)
  run('node', [
    join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '--strict',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--noEmit',
    '--types',
    'node',
    'check-cjs.ts',
    'check-esm.mts',
  ])
  return 'check-cjs.ts (require types) and check-esm.mts (import types)'
})

check('the same install with no registry reachable', () => {
  // The other platforms' optional packages then fail with a network error
  // instead of a 404: npm must skip them just the same.
  const offline = join(sandbox, 'offline')
  mkdirSync(offline)
  writeFileSync(join(offline, 'package.json'), '{"name":"offline-check","version":"1.0.0","private":true}\n')
  const opts = { cwd: offline, env, encoding: 'utf8', stdio: 'pipe' }
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--fetch-retries=0',
      '--registry=http://127.0.0.1:9/',
      tarballs.main,
      tarballs.platform,
    ],
    opts,
  )
  const out = execFileSync('node', ['-e', `console.log(require('@kithara/storage').backendName())`], opts).trim()
  if (out !== 'native') throw new Error(`backend is ${out}`)
})

if (keep) console.log(`sandbox kept at ${sandbox}`)
else rmSync(sandbox, { recursive: true, force: true })
console.log(`test-install: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
