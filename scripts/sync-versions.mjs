#!/usr/bin/env node
// Keeps the per-platform packages under npm/<platform>/ in step with the root
// package.json, which is the single source of truth:
//
//   - one npm/<platform>/package.json (+ README.md) for every native triple in
//     `napi.targets`, with name, version, os, cpu, libc, main, files and the
//     shared metadata (license, engines, repository, ...) copied from the root;
//   - the root package.json in the repository does NOT list those packages in
//     `optionalDependencies`: they are not published until a release, so npm
//     could not resolve them and would write a lock that `npm ci` rejects.
//     They are added to the published package.json only, at pack time
//     (`platformOptionalDependencies`, used by scripts/pack-local.mjs), as
//     `napi prepublish` does.
//
// Wired to the npm `version` lifecycle script, so `npm version patch` bumps
// every package at once. `--check` writes nothing and exits 1 when anything
// is out of step (used by the packaging test).
//
// The WebAssembly backend is not a napi-rs target: it is a wasm-bindgen build
// shipped inside the main package (see CONTRIBUTING.md, "Packaging"), so wasm32 triples
// are rejected here rather than given an empty platform package.

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const check = process.argv.includes('--check')

/** Rust arch → Node's `process.arch` (the names napi-rs uses in package names). */
const NODE_ARCH = { x86_64: 'x64', aarch64: 'arm64', armv7: 'arm', i686: 'ia32' }
/** Rust OS → Node's `process.platform`. */
const NODE_PLATFORM = { linux: 'linux', darwin: 'darwin', windows: 'win32' }
/** Rust ABI → the `libc` field npm/pnpm/yarn match against the running libc. */
const LIBC = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' }

/**
 * Splits a Rust target triple into napi-rs's package naming:
 * `aarch64-unknown-linux-gnu` → `linux-arm64-gnu`, `x86_64-apple-darwin` → `darwin-x64`.
 */
export function describeTarget(triple) {
  if (triple.startsWith('wasm32')) {
    throw new Error(
      `${triple}: the WebAssembly backend ships inside the main package (wasm-bindgen), not as a napi-rs target; remove it from napi.targets`,
    )
  }
  const [cpu, , sys, abi] = triple.split('-')
  const arch = NODE_ARCH[cpu]
  const platform = NODE_PLATFORM[sys]
  if (!arch || !platform) throw new Error(`${triple}: unknown arch or OS`)
  const platformArchAbi = abi ? `${platform}-${arch}-${abi}` : `${platform}-${arch}`
  return { triple, arch, platform, abi: abi ?? null, libc: abi ? (LIBC[abi] ?? null) : null, platformArchAbi }
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'))
}

function toJson(value) {
  return `${JSON.stringify(value, null, 2)}\n`
}

/** Builds the package.json of one platform package, field order as napi-rs writes it. */
function platformManifest(rootPkg, binaryName, target) {
  const file = `${binaryName}.${target.platformArchAbi}.node`
  const manifest = {
    name: `${rootPkg.name}-${target.platformArchAbi}`,
    version: rootPkg.version,
    description: `The ${target.triple} native binary of ${rootPkg.name}. Install ${rootPkg.name}, not this package.`,
    os: [target.platform],
    cpu: [target.arch],
  }
  if (target.libc) manifest.libc = [target.libc]
  manifest.main = file
  manifest.files = [file]
  for (const key of ['license', 'engines', 'repository', 'homepage', 'bugs', 'author', 'keywords']) {
    if (rootPkg[key] !== undefined) manifest[key] = rootPkg[key]
  }
  manifest.publishConfig = {
    access: 'public',
    ...(rootPkg.publishConfig?.registry ? { registry: rootPkg.publishConfig.registry } : {}),
  }
  return manifest
}

function platformReadme(rootPkg, manifest, target) {
  return `# \`${manifest.name}\`

The prebuilt \`${target.triple}\` binary of [\`${rootPkg.name}\`](https://www.npmjs.com/package/${rootPkg.name}).

Do not install it directly: \`npm install ${rootPkg.name}\` picks the package that matches
the running platform (\`os\`, \`cpu\`${target.libc ? ' and `libc`' : ''}) from its optional dependencies.
`
}

/**
 * The root's `optionalDependencies` as published: whatever else it lists, plus
 * one platform package per native target, pinned to the root's version and
 * sorted by name (as npm writes dependency maps).
 */
export function platformOptionalDependencies(rootPkg) {
  const merged = withoutPlatformPackages(rootPkg)
  for (const target of rootPkg.napi.targets.map(describeTarget)) {
    merged[`${rootPkg.name}-${target.platformArchAbi}`] = rootPkg.version
  }
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The root's `optionalDependencies` without the platform packages. */
function withoutPlatformPackages(rootPkg) {
  return Object.fromEntries(
    Object.entries(rootPkg.optionalDependencies ?? {}).filter(([name]) => !name.startsWith(`${rootPkg.name}-`)),
  )
}

function main() {
  const problems = []
  const rootPath = join(root, 'package.json')
  const rootPkg = readJson(rootPath)
  const binaryName = rootPkg.napi?.binaryName
  const triples = rootPkg.napi?.targets
  if (!binaryName || !Array.isArray(triples) || triples.length === 0) {
    console.error('package.json: napi.binaryName and napi.targets are required')
    process.exit(1)
  }

  const targets = triples.map(describeTarget)

  for (const target of targets) {
    const dir = join(root, 'npm', target.platformArchAbi)
    const manifest = platformManifest(rootPkg, binaryName, target)
    const files = [
      [join(dir, 'package.json'), toJson(manifest)],
      [join(dir, 'README.md'), platformReadme(rootPkg, manifest, target)],
    ]
    for (const [path, text] of files) {
      const current = existsSync(path) ? readFileSync(path, 'utf8') : null
      if (current === text) continue
      if (check) {
        problems.push(`${path.slice(root.length + 1)} is out of date`)
      } else {
        mkdirSync(dir, { recursive: true })
        writeFileSync(path, text)
        console.log(`wrote ${path.slice(root.length + 1)}`)
      }
    }
  }

  // Directories left over from a target that was removed from napi.targets.
  const known = new Set(targets.map((t) => t.platformArchAbi))
  for (const entry of existsSync(join(root, 'npm')) ? readdirSync(join(root, 'npm'), { withFileTypes: true }) : []) {
    if (entry.isDirectory() && !known.has(entry.name)) problems.push(`npm/${entry.name} is not in napi.targets`)
  }

  // The repository's package.json lists no platform package (see the top).
  const listed = Object.keys(rootPkg.optionalDependencies ?? {}).filter((name) => name.startsWith(`${rootPkg.name}-`))
  if (listed.length > 0) {
    if (check) {
      problems.push(
        `package.json optionalDependencies list ${listed.join(', ')}: platform packages are added at pack time, not in the repository`,
      )
    } else {
      // Re-read right before writing: other tools edit package.json too.
      const fresh = readJson(rootPath)
      const rest = withoutPlatformPackages(fresh)
      if (Object.keys(rest).length > 0) fresh.optionalDependencies = rest
      else fresh.optionalDependencies = undefined // JSON.stringify leaves it out
      writeFileSync(rootPath, toJson(fresh))
      console.log('removed the platform packages from package.json optionalDependencies')
    }
  }

  if (problems.length > 0) {
    for (const p of problems) console.error(`sync-versions: ${p}`)
    if (check) console.error('run `node scripts/sync-versions.mjs` to fix')
    process.exit(1)
  }
  if (check)
    console.log(`sync-versions: ${targets.length} platform packages in step with ${rootPkg.name}@${rootPkg.version}`)
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) main()
