// Child process of the several-processes tests (processes.test.ts,
// cluster.test.ts): a writer or a follower of one file, driven and heard
// over IPC (child_process.fork or cluster.fork). Says { alive } first, then
// takes its role from the first message.
//
//   writer   { path, size, pieceSize, seed, pause, hold }   opens auto + persistRanges;
//            writes the pieces in shuffled order (a setImmediate, or `pause` ms,
//            between them), commits, says { done }. Says { piece: n } after each
//            piece; with `hold`, says { holding } after that many and waits for { go }.
//   follower { path }   opens readOnly + persistRanges; streams the whole file in order
//            and says { hash, status, isFollower }.
//   open     { path, mode, persistRanges }   opens, says { opened: 'writer' | 'follower' }
//            or { error: code }, then holds the file until told { exit }.
//   command  messages { write: [start, end] } and { commit: len } to a held writer.
import { createHash } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { CancellationToken, MmapResource } from '@kithara/storage'
import pattern from './pattern.cjs'

const token = new CancellationToken()
const say = (msg) => process.send(msg)
/** Says `msg`, then lets the parent go (the process exits once idle). */
const sayLast = (msg) => process.send(msg, () => process.disconnect())

function open(path, mode, persistRanges) {
  return MmapResource.open(token, { path, mode, persistRanges })
}

async function writer({ path, size, pieceSize, seed, pause, hold }) {
  const r = open(path, 'auto', true)
  if (r.isFollower()) throw new Error('the writer opened as a follower')
  say({ ready: true })
  const pieces = Math.ceil(size / pieceSize)
  let n = 0
  for (const i of pattern.shuffled(pieces, seed)) {
    const start = i * pieceSize
    const end = Math.min(size, start + pieceSize)
    if (r.containsRange(start, end)) continue
    r.writeAt(start, pattern.piece(start, end))
    say({ piece: ++n })
    if (n === hold) {
      say({ holding: true })
      await new Promise((resolve) => process.once('message', resolve))
    }
    if (pause) await delay(pause)
    else await new Promise(setImmediate)
  }
  r.commit(size)
  r.close()
  sayLast({ done: true })
}

async function follower({ path }) {
  const r = open(path, 'readOnly', true)
  const isFollower = r.isFollower()
  say({ following: isFollower })
  const hash = createHash('sha256')
  for await (const chunk of r.createReadStream()) hash.update(chunk)
  const status = r.status()
  r.close()
  sayLast({ hash: hash.digest('hex'), status, isFollower })
}

function held({ path, mode, persistRanges }) {
  let r
  try {
    r = open(path, mode, persistRanges)
  } catch (e) {
    say({ error: e.code })
    return
  }
  say({ opened: r.isFollower() ? 'follower' : 'writer' })
  process.on('message', (msg) => {
    if (msg.write) {
      const [start, end] = msg.write
      r.writeAt(start, pattern.piece(start, end))
      say({ wrote: msg.write })
    } else if (msg.commit !== undefined) {
      r.commit(msg.commit)
      say({ committed: msg.commit })
    } else if (msg.exit) {
      r.close()
      process.disconnect()
    }
  })
}

const roles = { writer, follower, open: held }

process.once('message', async (msg) => {
  try {
    await roles[msg.role](msg)
  } catch (e) {
    say({ failed: `${e.code ?? e.name}: ${e.message}` })
  }
})
// A message sent before this module ran may be lost (cluster workers): the
// parent sends the role once it hears this.
say({ alive: true })
