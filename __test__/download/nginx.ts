/**
 * A throwaway nginx (Debian's `nginx-light`) for the download tests: its own
 * prefix, config, pid and logs in a temp directory, on a free loopback port,
 * in the foreground (`daemon off`), serving generated files.
 *
 * Non-root friendly: every path nginx writes is in the temp directory. As
 * root, workers run as the current user (`user root`) so they can read the
 * 0700 temp directory.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { generateBytes } from '../../examples/server.js'

/** Where Debian installs it. */
export const NGINX = '/usr/sbin/nginx'

/** A file nginx serves. */
export interface ServedFile {
  name: string
  data: Buffer
  sha256: string
}

/** A running nginx. */
export interface Nginx {
  /** `http://127.0.0.1:<port>` */
  base: string
  /** The directory of its config, logs and files. */
  dir: string
  /** Stops it (SIGTERM: fast shutdown, then SIGKILL) and waits for the exit. */
  stop(): Promise<void>
  /** The access log lines so far (`<uri> <range> <status> <bytes_sent>`). */
  accessLog(): string[]
}

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Generates `size` deterministic bytes named `name` with their sha256. */
export function makeFile(name: string, size: number, seed?: number): ServedFile {
  const data = generateBytes(size, seed)
  return { name, data, sha256: createHash('sha256').update(data).digest('hex') }
}

function config(dir: string, port: number, slowRate: string): string {
  const user = typeof process.getuid === 'function' && process.getuid() === 0 ? `user ${userInfo().username};\n` : ''
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 128; }
http {
  log_format ranges '$uri "$http_range" $status $body_bytes_sent';
  access_log ${dir}/access.log ranges;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 10000;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    # The same files, sent slowly: for interrupting a response half-way.
    location /slow/ {
      alias ${dir}/www/;
      limit_rate ${slowRate};
    }
  }
}
`
}

/** Starts nginx serving `files` from a fresh directory under `dir`. */
export async function startNginx(dir: string, files: ServedFile[], slowRate = '512k'): Promise<Nginx> {
  if (!existsSync(NGINX))
    throw new Error(`${NGINX} is missing: install Debian's nginx-light (npm test's pretest installs it)`)
  mkdirSync(join(dir, 'www'), { recursive: true })
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  for (const f of files) writeFileSync(join(dir, 'www', f.name), f.data)
  let lastError: unknown
  // A port can be taken between freePort() and nginx's bind; try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    writeFileSync(join(dir, 'nginx.conf'), config(dir, port, slowRate))
    const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const up = await waitListening(port, exited)
    if (up) return handle(dir, port, child, exited)
    const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''
    lastError = new Error(`nginx did not start: ${stderr}${log}`)
    child.kill('SIGKILL')
    await exited
  }
  throw lastError
}

/** Polls until something accepts on `port` (true) or nginx exits (false). */
async function waitListening(port: number, exited: Promise<number | null>): Promise<boolean> {
  let gone = false
  void exited.then(() => {
    gone = true
  })
  for (let i = 0; i < 200 && !gone; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const res = fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' })
      res.then(
        () => resolve(true),
        () => resolve(false),
      )
    })
    if (ok) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}

function handle(dir: string, port: number, child: ChildProcess, exited: Promise<number | null>): Nginx {
  return {
    base: `http://127.0.0.1:${port}`,
    dir,
    accessLog: () => {
      const file = join(dir, 'access.log')
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}
