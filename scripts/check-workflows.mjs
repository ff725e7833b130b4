#!/usr/bin/env node
// Checks that the GitHub workflows call only what exists: every
// `npm run <script>` (and `npm test`/`npm start`) names a script of
// package.json, and every `node <file>`, `bash <file>` or `--config <file>`
// names a file of the repository. Plain text, no install: part of `npm test`
// (test:packaging) and of `npm run lint:workflows`.
//
//   node scripts/check-workflows.mjs [workflow.yml ...]   (default: .github/workflows/*.yml)
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts ?? {}
const dir = join(root, '.github', 'workflows')
const files = process.argv.slice(2)
if (files.length === 0 && existsSync(dir)) {
  for (const f of readdirSync(dir).sort()) if (/\.ya?ml$/.test(f)) files.push(join(dir, f))
}
if (files.length === 0) {
  console.error('check-workflows: no workflow files')
  process.exit(1)
}

/** What a workflow line calls: [kind, name] pairs. */
function calls(line) {
  const found = []
  // A `#` starts a comment in YAML and in shell alike (when it follows a space).
  const code = line.replace(/(^|\s)#.*$/, '')
  for (const m of code.matchAll(/\bnpm\s+(?:run(?:-script)?|run-script)\s+([\w:.-]+)/g)) found.push(['script', m[1]])
  for (const m of code.matchAll(/\bnpm\s+(test|start|t)\b/g)) found.push(['script', m[1] === 't' ? 'test' : m[1]])
  for (const m of code.matchAll(/\b(?:node|bash|sh)\s+((?:\.\/)?[\w./-]+\.(?:mjs|cjs|js|sh))\b/g))
    found.push(['file', m[1]])
  for (const m of code.matchAll(/--config[\s=]+((?:\.\/)?[\w./-]+)/g)) found.push(['file', m[1]])
  return found
}

let problems = 0
let checked = 0
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n')
  lines.forEach((line, i) => {
    for (const [kind, name] of calls(line)) {
      checked++
      const ok = kind === 'script' ? name in scripts : existsSync(join(root, name))
      if (!ok) {
        problems++
        const what = kind === 'script' ? `npm script '${name}' is not in package.json` : `file '${name}' does not exist`
        console.error(`${relative(root, file)}:${i + 1}: ${what}`)
      }
    }
  })
}
if (problems > 0) {
  console.error(`check-workflows: ${problems} call(s) to something that does not exist`)
  process.exit(1)
}
console.log(`check-workflows: ${files.length} workflow file(s), ${checked} npm scripts and files called, all exist`)
