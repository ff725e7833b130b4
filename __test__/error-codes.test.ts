/**
 * The storage error codes are defined by the core (`StorageError::code()`);
 * the facade's list (the `StorageErrorCode` type) and the README's error
 * table must name exactly the same codes. The download codes live in the
 * same registry (src/errors.ts) and the README's download table.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { DOWNLOAD_ERROR_CODES, STORAGE_ERROR_CODES } from '../src/errors.js'

const root = join(__dirname, '..')
const codesIn = (text: string): string[] => [...new Set(text.match(/ERR_STORAGE_[A-Z_]+/g) ?? [])].sort()

test('the core, the facade and the README name the same storage error codes', (t) => {
  const errorRs = readFileSync(join(root, 'crates/kithara-storage/src/error.rs'), 'utf8')
  const codeFn = errorRs.slice(errorRs.indexOf('pub fn code(&self)'))
  const core = codesIn(codeFn.slice(0, codeFn.indexOf('\n    }\n')))
  t.true(core.length >= 10, `found ${core.join(', ')} in error.rs`)

  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const table = readme.split('\n').filter((line) => /^\| `ERR_STORAGE_[A-Z_]+` \|/.test(line))

  t.deepEqual([...STORAGE_ERROR_CODES].sort(), core, 'src/errors.ts STORAGE_ERROR_CODES')
  t.deepEqual(codesIn(table.join('\n')), core, "README's error table")
})

test('the registry and the README name the same download error codes', (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const table = readme.split('\n').filter((line) => /^\| `ERR_DOWNLOAD_[A-Z_]+` \|/.test(line))
  const inTable = [...new Set(table.join('\n').match(/ERR_DOWNLOAD_[A-Z_]+/g) ?? [])].sort()
  t.true(inTable.length >= 3)
  t.deepEqual([...DOWNLOAD_ERROR_CODES].sort(), inTable)
  // Raised only from that list: every code download.ts names is in it.
  const source = readFileSync(join(root, 'src/download/download.ts'), 'utf8')
  const raised = [...new Set(source.match(/ERR_DOWNLOAD_[A-Z_]+/g) ?? [])].sort()
  t.deepEqual(raised, inTable)
})
