/** A child process of the several-processes tests (child.mjs), and what it says. */
import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

export const CHILD = join(__dirname, 'child.mjs')

/** A message from child.mjs. */
export type Message = Record<string, unknown>

/** Buffers what a child (or a cluster worker) says, so tests can wait for one message. */
export class Peer {
  private readonly heard: Message[] = []
  /** Everyone waiting in `next()`: each looks again at what was heard. */
  private waiting: (() => void)[] = []
  private exited: string | null = null

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (msg: Message) => {
      this.heard.push(msg)
      this.wakeAll()
    })
    proc.once('exit', (code: number | null, signal: string | null) => {
      this.exited = `exited (code ${code}, signal ${signal})`
      this.wakeAll()
    })
  }

  /** Forks child.mjs in role `msg.role`; killed when the test ends. */
  static start(t: ExecutionContext, msg: Message): Peer {
    const proc = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    t.teardown(() => {
      proc.kill('SIGKILL')
    })
    return new Peer(proc).begin(msg)
  }

  /** Sends the child its role once it is listening (see child.mjs). */
  begin(msg: Message): this {
    this.next('alive').then(
      () => {
        try {
          this.proc.send(msg)
        } catch {
          // It died meanwhile: the test's next `next()` says so.
        }
      },
      // It died first: the test's next `next()` says so.
      () => {},
    )
    return this
  }

  /** Resolves with the first message (from now on or buffered) that has `key`. */
  async next(key: string): Promise<Message> {
    for (;;) {
      const i = this.heard.findIndex((m) => key in m || 'failed' in m)
      if (i >= 0) {
        const [msg] = this.heard.splice(i, 1)
        if ('failed' in msg && !(key in msg)) throw new Error(`the child failed: ${msg.failed}`)
        return msg
      }
      if (this.exited) throw new Error(`the child ${this.exited} before saying ${key}`)
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  private wakeAll(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const wake of waiting) wake()
  }

  /** Sends `msg` and waits for the answer that has `key`. */
  async ask(msg: Message, key: string): Promise<Message> {
    this.proc.send(msg)
    return this.next(key)
  }

  /** `kill -9`; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()))
    this.proc.kill('SIGKILL')
    await gone
  }
}

/** Whether `p` settled by the time the event loop is idle again. */
export async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  await new Promise(setImmediate)
  return done
}
