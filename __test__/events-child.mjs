// Child process of __test__/persisted.test.ts: a script whose last act is a
// change that makes an event, with nothing else to keep it running. It must
// still hear the event before it exits.
//
//   node events-child.mjs top|io|immediate [commit]
//
// With `commit`, the bytes are written before anything listens and the act
// is the commit alone: the commit itself must hold the loop.
import { readFile } from 'node:fs'
import { once } from 'node:events'
import { CancellationToken, MemResource } from '@kithara/storage'

const where = process.argv[2]
const r = MemResource.open(new CancellationToken())
const commitOnly = process.argv[3] === 'commit'
if (commitOnly) r.writeAt(0, new Uint8Array([1, 2, 3]))
const committed = once(r, 'commit')
const act = commitOnly ? () => r.commit() : () => r.writeAll(new Uint8Array([1, 2, 3]))
if (where === 'top') act()
else if (where === 'io') readFile(new URL(import.meta.url), act)
else setImmediate(act)
const [event] = await committed
process.stdout.write(`commit ${event.finalLen}\n`)
