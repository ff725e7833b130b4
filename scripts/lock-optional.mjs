#!/usr/bin/env node
// Records in package-lock.json every optional dependency that npm could not
// resolve, so that `npm ci` accepts the lock.
//
// Why: the root lists the per-platform packages (@kithara/storage-<platform>)
// as optionalDependencies, but they are published only by the release
// workflow, so `npm install` cannot resolve them and leaves them out of the
// lock; `npm ci` then refuses a lock that does not mention every dependency.
// The same happens to other-platform binaries of build tools when a registry
// mirror lacks them. An entry with a version and `optional: true` (and the
// platform fields, for our own packages) is enough: npm ci skips an optional
// package it cannot fetch or that does not fit the machine, exactly as
// `npm install` does.
//
// Run after any `npm install` that rewrites the lock (the `version` script
// runs it too). `--check` exits 1 if the lock needs it.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const lockPath = join(root, 'package-lock.json')
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
const packages = lock.packages

// Our platform packages: take os/cpu/libc from npm/<platform>/package.json.
const platform = new Map()
for (const dir of readdirSync(join(root, 'npm'))) {
  const pkg = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
  platform.set(pkg.name, pkg)
}

const missing = []
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${name}`
    const top = `node_modules/${name}`
    const own = platform.get(name)
    const existing = packages[nested] ?? packages[top]
    if (existing && !(own && existing.version !== own.version)) continue
    const stub = { version: own ? own.version : String(spec).replace(/^[\^~=]/, ''), optional: true }
    for (const field of ['os', 'cpu', 'libc']) if (own?.[field]) stub[field] = own[field]
    missing.push(name)
    packages[packages[nested] ? nested : top] = stub
  }
}

if (process.argv.includes('--check')) {
  if (missing.length) {
    console.error(
      `lock-optional: package-lock.json lacks ${missing.length} optional entries (${missing.slice(0, 3).join(', ')}…); run node scripts/lock-optional.mjs`,
    )
    process.exit(1)
  }
  console.log('lock-optional: every optional dependency is in package-lock.json')
} else {
  writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`)
  console.log(`lock-optional: recorded ${missing.length} optional entries`)
}
