// A throwaway native PostgreSQL server for tests and benchmarks: a new cluster in a
// temp dir on 127.0.0.1 and a free port, with the platform shim, the migrations and
// the seed applied (by LocalDb, as on PGlite). Durability is off (fsync), since the
// data is deleted when it stops. Uses PostgreSQL 15 from /usr/lib/postgresql/15/bin
// with pgvector, pgmq and pgTAP installed (.ci/postgres15.sh installs them), or
// $KONSTRUCT_PG_BIN. As root, the server runs as the `postgres` OS user.
import { spawn, type ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { LocalDb } from './db.ts'

export interface NativePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (superuser, no password). */
  url: string
  port: number
  /** Stops the server and deletes its files. */
  stop(): Promise<void>
}

export interface NativePostgresOptions {
  /** Directory of the repository (holds supabase/ and local/). */
  root: string
  /** Directory with initdb and postgres. */
  bin?: string
  /** Apply local/platform.sql, the migrations and the seed (default true). */
  schema?: boolean
  /** Extra server settings (name → value). */
  settings?: Record<string, string>
  log?: (line: string) => void
}

const defaultBin = '/usr/lib/postgresql/15/bin'

/** Starts a new cluster; the caller must call stop(). */
export async function startPostgres(options: NativePostgresOptions): Promise<NativePostgres> {
  const bin = options.bin ?? process.env.KONSTRUCT_PG_BIN ?? defaultBin
  if (!existsSync(join(bin, 'initdb'))) {
    throw new Error(`no PostgreSQL in ${bin} (run .ci/postgres15.sh, or set KONSTRUCT_PG_BIN)`)
  }
  const work = mkdtempSync(join(tmpdir(), 'konstruct-pg-'))
  const data = join(work, 'data')
  const socket = join(work, 'sock')
  const owner = osUser()
  let server: ChildProcess | undefined
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise<void>((resolve) => server!.once('exit', () => resolve()))
      server.kill('SIGINT') // fast shutdown: ends sessions, no waiting for clients
      const timer = setTimeout(() => server!.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    process.off('exit', killNow)
    rmSync(work, { recursive: true, force: true })
  }
  // If this process exits without stop(), do not leave a server behind.
  const killNow = () => {
    server?.kill('SIGQUIT')
  }
  try {
    chmodSync(work, 0o711) // the postgres OS user must reach its data dir and socket inside
    mkdirSync(data, { mode: 0o700 })
    mkdirSync(socket, { mode: 0o700 })
    if (owner) {
      chownSync(data, owner.uid, owner.gid)
      chownSync(socket, owner.uid, owner.gid)
    }
    execFileSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
      { stdio: 'pipe', ...owner },
    )
    const port = await freePort()
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: socket,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      jit: 'off',
      max_connections: '200',
      ...options.settings,
    }
    const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
    const output: string[] = []
    server = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...owner })
    process.on('exit', killNow)
    for (const stream of [server.stdout!, server.stderr!]) {
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        output.push(chunk)
        if (output.length > 200) output.shift()
      })
    }
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    await waitForServer(url, server, output)
    options.log?.(`native PostgreSQL on 127.0.0.1:${port} (${work})`)
    if (options.schema ?? true) {
      const db = await LocalDb.open({ root: options.root, url, log: options.log })
      await db.close()
    }
    return { url, port, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** As root, the server runs as the postgres OS user (PostgreSQL refuses root). */
function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
  if (!line) throw new Error('running as root, but there is no postgres OS user to run PostgreSQL as')
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

async function waitForServer(url: string, server: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`PostgreSQL exited while starting:\n${output.join('')}`)
    }
    const client = new pg.Client({ connectionString: url })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.end()
      return
    } catch {
      await client.end().catch(() => {})
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections:\n${output.join('')}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
