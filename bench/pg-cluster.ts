// A throwaway native PostgreSQL cluster for benchmarks: initdb in a temp dir (as the
// `postgres` OS user when run as root, like .ci/postgres15.sh), started on 127.0.0.1 at a
// free port with its socket inside the temp dir, removed on stop. Binaries from
// PG_BIN (default /usr/lib/postgresql/15/bin, where .ci/postgres15.sh installs 15 with
// pgvector and pgmq).
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface PgCluster {
  bin: string
  port: number
  host: string
  version: string
  /** Environment for psql/pgbench: PGHOST, PGPORT, PGUSER, PGDATABASE. */
  env: NodeJS.ProcessEnv
  /** Runs psql on a file or command with ON_ERROR_STOP; returns stdout. */
  psql(args: string[], options?: { env?: NodeJS.ProcessEnv }): string
  stop(): void
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return { uid, gid }
}

export async function startPgCluster(
  options: { bin?: string; settings?: Record<string, string> } = {},
): Promise<PgCluster> {
  const bin = options.bin ?? process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
  const work = mkdtempSync(join(tmpdir(), 'konstruct-bench-pg-'))
  chmodSync(work, 0o711)
  const data = join(work, 'data')
  const sock = join(work, 'sock')
  mkdirSync(data, { mode: 0o700 })
  mkdirSync(sock, { mode: 0o700 })
  const owner = postgresUser()
  if (owner) {
    chownSync(data, owner.uid, owner.gid)
    chownSync(sock, owner.uid, owner.gid)
  }
  const asPostgres = (file: string, args: string[]) =>
    owner
      ? spawnSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8' })
      : spawnSync(file, args, { encoding: 'utf8' })
  const check = (what: string, result: ReturnType<typeof spawnSync>) => {
    if (result.status !== 0) throw new Error(`${what} failed: ${result.stderr || result.stdout}`)
  }
  const cleanup = () => rmSync(work, { recursive: true, force: true })
  try {
    check(
      'initdb',
      asPostgres(join(bin, 'initdb'), [
        '-D',
        data,
        '-U',
        'postgres',
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
        '--no-sync',
      ]),
    )
    const port = await freePort()
    const settings = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: sock,
      ...options.settings,
    }
    const serverOptions = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(' ')
    check(
      'pg_ctl start',
      asPostgres(join(bin, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        join(data, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        serverOptions,
        'start',
      ]),
    )
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: 'postgres',
      PGDATABASE: 'postgres',
      PGAPPNAME: 'konstruct-bench',
    }
    delete env.PGPASSWORD
    delete env.PGSERVICE
    delete env.PGOPTIONS
    const psql = (args: string[], extra: { env?: NodeJS.ProcessEnv } = {}) => {
      const result = spawnSync(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args], {
        encoding: 'utf8',
        env: { ...env, ...extra.env },
        maxBuffer: 64 * 1024 * 1024,
      })
      if (result.status !== 0) throw new Error(`psql ${args.join(' ')} failed: ${result.stderr}`)
      return result.stdout
    }
    const version = psql(['-At', '-c', 'show server_version']).trim()
    return {
      bin,
      port,
      host: '127.0.0.1',
      version,
      env,
      psql,
      stop() {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'])
        cleanup()
      },
    }
  } catch (error) {
    asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'])
    cleanup()
    throw error
  }
}
