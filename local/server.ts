// The local stack: one HTTP server on 127.0.0.1 serving Supabase's paths
// (/auth/v1, /rest/v1, /realtime/v1, /functions/v1) over one database: PGlite, or a
// native PostgreSQL server (`db` option).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { LocalDb } from './db.ts'
import { loadKeys, type StackKeys } from './keys.ts'
import { sendJson, type StackContext } from './http.ts'
import { handleAuth } from './auth.ts'
import { handleRest } from './rest.ts'
import { FunctionHost } from './functions.ts'
import { attachRealtime } from './realtime.ts'
import { NetWorker } from './net.ts'
import { CronScheduler } from './cron.ts'
import { DEV_WORKER_SECRET } from './dev-secrets.ts'
import { Recorder, RECORDER_PATH } from './recorder.ts'
import { startPostgres, type NativePostgres } from './postgres.ts'

export interface StackOptions {
  root: string
  /** File-backed data directory; omitted means in memory. */
  dataDir?: string
  /**
   * The database: omitted or 'pglite' for PGlite; a postgres://… URL of a native
   * server (database postgres, as a superuser); 'native' for a throwaway native
   * PostgreSQL cluster that lives as long as the stack (local/postgres.ts).
   */
  db?: string
  port?: number
  /** Legacy HS256 secret (the anon/service_role keys are signed with it). */
  jwtSecret?: string
  /** Where the session signing key is kept; omitted means a fresh key per start. */
  signingKeysFile?: string
  /** Signs the database's wake-ups; stored in Vault and given to the functions. */
  workerSecret?: string
  functionEnv?: Record<string, string>
  log?: (line: string) => void
}

export interface LocalStack {
  url: string
  port: number
  keys: StackKeys
  db: LocalDb
  /** The edge functions' Deno processes (tests use pid(name) to kill one mid-job). */
  functions: FunctionHost
  /** What the functions sent to Slack and WhatsApp when pointed at the recorder (npm start). */
  recorder: Recorder
  /**
   * Requests served so far per API function (`rpc/<fn>`) and edge function (`functions/<name>`):
   * benches report calls per message, a figure that holds on a busy machine.
   */
  calls: Map<string, number>
  close(): Promise<void>
}

const corsHeaders = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD',
  'access-control-allow-headers':
    'authorization, x-client-info, apikey, content-type, accept-profile, content-profile, prefer, range, x-supabase-api-version, x-region',
  'access-control-expose-headers': 'content-range, x-total-count, link, x-supabase-api-version',
  'access-control-max-age': '86400',
}

export async function startStack(options: StackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => {})
  let cluster: NativePostgres | undefined
  if (options.db === 'native') cluster = await startPostgres({ root: options.root, schema: false, log })
  const dbUrl = cluster?.url ?? (options.db && options.db !== 'pglite' ? parseDatabaseUrl(options.db) : undefined)
  let db: LocalDb
  try {
    db = await LocalDb.open({ root: options.root, dataDir: options.dataDir, url: dbUrl, log })
  } catch (error) {
    await cluster?.stop()
    throw error
  }
  const keys = await loadKeys({ jwtSecret: options.jwtSecret, signingKeysFile: options.signingKeysFile })
  const server: Server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 54321, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  // The deploy step of a Supabase project: tell the database where its functions are
  // and the secret its wake-ups are signed with (Vault), and give the functions the
  // same secret, so pg_net can wake them (see app.configure_functions).
  const workerSecret = options.workerSecret ?? options.functionEnv?.KONSTRUCT_WORKER_SECRET ?? DEV_WORKER_SECRET
  await db.asOwner(async (tx) => {
    const { rows } = await tx.query<{ found: boolean }>(
      `select to_regprocedure('app.configure_functions(text, text)') is not null as found`,
    )
    if (rows[0]?.found) await tx.query('select app.configure_functions($1, $2)', [`${url}/functions/v1`, workerSecret])
  })
  const functionEnv = { ...options.functionEnv, KONSTRUCT_WORKER_SECRET: workerSecret }
  const ctx: StackContext = { db, keys, url, root: options.root, functionEnv, log }
  const functions = new FunctionHost(ctx)
  const recorder = new Recorder(log)
  const realtime = attachRealtime(server, ctx)
  const net = new NetWorker(db, log)
  const cron = new CronScheduler(db, log)

  const calls = new Map<string, number>()
  const count = (key: string) => {
    if (calls.has(key) || calls.size < 1000) calls.set(key, (calls.get(key) ?? 0) + 1)
  }
  server.on('request', (req, res) => {
    for (const [k, v] of Object.entries(corsHeaders)) res.setHeader(k, v)
    // Functions answer their own CORS preflight, as on Supabase.
    if (req.method === 'OPTIONS' && !req.url?.startsWith('/functions/v1/')) {
      res.writeHead(204)
      res.end()
      return
    }
    const reqUrl = new URL(req.url ?? '/', url)
    const path = reqUrl.pathname
    const counted = /^\/(?:rest\/v1\/(rpc\/[^/]+)|functions\/v1\/([^/]+))/.exec(path)
    if (counted) count(counted[1] ?? `functions/${counted[2]}`)
    const route = path.startsWith('/auth/v1/')
      ? handleAuth
      : path.startsWith('/rest/v1/') || path === '/rest/v1'
        ? handleRest
        : path.startsWith('/functions/v1/')
          ? functions.handle
          : path.startsWith(`${RECORDER_PATH}/`)
            ? recorder.handle
            : undefined
    if (!route) {
      sendJson(res, 404, { message: 'no Route matched with those values' })
      return
    }
    route(req, res, reqUrl, ctx).catch((error: unknown) => {
      log(`error serving ${req.method} ${path}: ${(error as Error).stack ?? String(error)}`)
      if (!res.headersSent) sendJson(res, 500, { message: 'internal error in the local stack' })
      else res.end()
    })
  })

  return {
    url,
    port,
    keys,
    db,
    functions,
    recorder,
    calls,
    async close() {
      cron.stop()
      await realtime.close()
      await functions.close()
      await net.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await db.close()
      await cluster?.stop()
    },
  }
}

/**
 * The database a command was asked for: `--db <pglite|native|postgres://…>` (or
 * `--db=…`) among its arguments, else $KONSTRUCT_DB, else undefined (PGlite).
 */
export function chosenDatabase(args: string[] = process.argv, env = process.env): string | undefined {
  const i = args.indexOf('--db')
  if (i >= 0) {
    const value = args[i + 1]
    if (!value || value.startsWith('--')) throw new Error('--db needs a value: pglite, native or postgres://…')
    return value
  }
  const inline = args.find((a) => a.startsWith('--db='))
  return inline ? inline.slice('--db='.length) : env.KONSTRUCT_DB || undefined
}

/** The `db` option when it is a URL: postgres:// or postgresql://, or a clear error. */
function parseDatabaseUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new Error(`--db must be pglite, native or a postgres://… URL, not ${JSON.stringify(value)}`)
  }
  return value
}
