#!/usr/bin/env node
// `npm run pack:local`: installable tarballs of the main package and of this
// machine's platform package, in artifacts/.
//
//   1. builds the addon and the facade (`npm run build`; the wasm backend too
//      when the package declares `build:wasm`), unless --skip-build;
//   2. copies the host's kithara-storage.<platform>.node into npm/<platform>/;
//   3. `npm pack`s the root and npm/<platform> into artifacts/ and checks the
//      main tarball: the facade, typings, loader, README and licenses are in it, and no
//      Rust sources, Cargo files, target/ output or .node binaries are.
//
// The packed package.json lists every platform package in
// `optionalDependencies` (at the root's version), which the repository's
// package.json does not (see scripts/sync-versions.mjs): package.json gets
// them only for the moment of `npm pack` and is restored byte for byte after.
//
// Prints one JSON line `{"main": ..., "platform": ..., "platformPackage": ...}`
// last, for scripts (scripts/test-install.mjs reads it).
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { platformOptionalDependencies } from './sync-versions.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
const skipBuild = args.has('--skip-build')
const skipWasm = args.has('--no-wasm')
// --main-only: only the main tarball (the release workflow packs it on a
// machine without the native binary; the platform packages come from napi).
const mainOnly = args.has('--main-only')
const artifacts = join(root, 'artifacts')

function log(message) {
  console.error(`pack:local: ${message}`)
}

function npm(npmArgs, cwd = root) {
  return execFileSync('npm', npmArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

/** napi-rs's name for the running platform: linux-x64-gnu, darwin-arm64, win32-x64-msvc, ... */
export function hostPlatformArchAbi() {
  const { platform, arch } = process
  if (platform === 'linux') {
    // glibcVersionRuntime is only reported by a glibc-linked Node.
    const glibc = Boolean(process.report?.getReport()?.header?.glibcVersionRuntime)
    const abi = arch === 'arm' ? (glibc ? 'gnueabihf' : 'musleabihf') : glibc ? 'gnu' : 'musl'
    return `linux-${arch}-${abi}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const binaryName = pkg.napi.binaryName
const platform = hostPlatformArchAbi()
const platformDir = join(root, 'npm', platform)
const nodeFile = `${binaryName}.${platform}.node`
if (!mainOnly && !existsSync(join(platformDir, 'package.json'))) {
  throw new Error(`npm/${platform}/package.json is missing: this platform is not in napi.targets`)
}

if (!skipBuild) {
  const script = mainOnly ? 'build:ts' : 'build'
  log(`building (npm run ${script})`)
  execFileSync('npm', ['run', script], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  // The wasm backend, when the package has one and `build` does not already make it.
  if (pkg.scripts?.['build:wasm'] && !pkg.scripts.build?.includes('build:wasm') && !skipWasm) {
    log('building the WebAssembly backend (npm run build:wasm)')
    execFileSync('npm', ['run', 'build:wasm'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  }
}

if (!mainOnly) {
  const builtNode = join(root, nodeFile)
  if (!existsSync(builtNode)) throw new Error(`${nodeFile} is missing: run npm run build first`)
  copyFileSync(builtNode, join(platformDir, nodeFile))
  log(`copied ${nodeFile} into npm/${platform}/`)
}

rmSync(artifacts, { recursive: true, force: true })
mkdirSync(artifacts, { recursive: true })

/** Packs `dir` into artifacts/ without lifecycle scripts (the build already ran). */
function pack(dir) {
  const [result] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', artifacts], dir))
  return { file: join(artifacts, result.filename), files: result.files.map((f) => f.path), size: result.size }
}

/** Packs the root with the platform packages added to its optionalDependencies. */
function packMain() {
  const path = join(root, 'package.json')
  const original = readFileSync(path)
  const published = { ...pkg, optionalDependencies: platformOptionalDependencies(pkg) }
  writeFileSync(path, `${JSON.stringify(published, null, 2)}\n`)
  try {
    return pack(root)
  } finally {
    writeFileSync(path, original)
  }
}

const main = packMain()
const plat = mainOnly ? null : pack(platformDir)

// The main tarball: what must be there, what must never be.
const problems = []
const mustHave = [
  'package.json',
  'README.md',
  'LICENSE-MIT',
  'LICENSE-APACHE',
  'native-binding.js',
  'native-binding.d.ts',
]
for (const entry of [pkg.main, pkg.types, pkg.module]) {
  if (typeof entry === 'string') mustHave.push(entry.replace(/^\.\//, ''))
}
;(function collectExportTargets(node) {
  if (typeof node === 'string') {
    if (node.startsWith('./') && !node.includes('*')) mustHave.push(node.slice(2))
  } else if (node && typeof node === 'object') {
    for (const value of Object.values(node)) collectExportTargets(value)
  }
})(pkg.exports)
for (const f of new Set(mustHave)) {
  if (!main.files.includes(f)) problems.push(`missing ${f}`)
}
const forbidden = [
  [/\.rs$/, 'Rust source'],
  [/(^|\/)Cargo\.(toml|lock)$/, 'Cargo file'],
  [/^(target|crates|src|__test__|bench|npm|artifacts|scripts)\//, 'repository-only directory'],
  [/\.node$/, 'native binary (belongs in the platform package)'],
  [/\.tsbuildinfo$/, 'TypeScript build info'],
]
for (const f of main.files) {
  for (const [pattern, what] of forbidden) {
    if (pattern.test(f)) problems.push(`${f}: ${what}`)
  }
}
if (plat && !plat.files.includes(nodeFile)) problems.push(`platform tarball lacks ${nodeFile}`)
const packed = JSON.parse(execFileSync('tar', ['-xOzf', main.file, 'package/package.json'], { encoding: 'utf8' }))
const wanted = platformOptionalDependencies(pkg)
if (JSON.stringify(packed.optionalDependencies) !== JSON.stringify(wanted)) {
  problems.push(
    `package.json optionalDependencies are ${JSON.stringify(packed.optionalDependencies)}, not ${JSON.stringify(wanted)}`,
  )
}
if (problems.length > 0) {
  for (const p of problems) log(`bad tarball: ${p}`)
  process.exit(1)
}

log(`${main.file.slice(root.length + 1)}: ${main.files.length} files, ${main.size} bytes`)
if (plat) log(`${plat.file.slice(root.length + 1)}: ${plat.files.join(', ')}, ${plat.size} bytes`)
console.log(
  JSON.stringify({
    main: main.file,
    platform: plat?.file ?? null,
    platformPackage: plat ? `${pkg.name}-${platform}` : null,
  }),
)
