// /functions/v1/<name>: the project's real edge functions, each run by Deno (the
// `deno` npm package) in its own supervised process, behind the same gateway
// rules as Supabase: verify_jwt per function from supabase/config.toml, Supabase's
// error bodies, and the function sees `/<name>/<rest>?<query>` as its URL path.
//
// One Deno process per function, started on its first request and kept warm; a
// crash is restarted with backoff, and requests meanwhile get a JSON 503.
// Packages come from the repository's node_modules (`--node-modules-dir=manual`):
// no network is needed once `npm ci` has run, and deno.json stays deployable.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import {
  Agent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseEnv } from 'node:util'
import type { TomlTable } from 'smol-toml'
import { sendJson, type RouteHandler, type StackContext } from './http.ts'
import { verifyJwt } from './keys.ts'
import { readProjectConfig, section } from './project-config.ts'

/** Printed by local/deno-host.ts once the function listens: `<marker> <port>`. */
const LISTENING_MARKER = 'KONSTRUCT_FUNCTION_LISTENING'
const bootstrapPath = fileURLToPath(new URL('./deno-host.ts', import.meta.url))
/** The repository this code lives in: node_modules, the bootstrap and Deno's cache. */
const hostRoot = fileURLToPath(new URL('..', import.meta.url))

const BOOT_TIMEOUT_MS = 30_000
const FIRST_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5_000
/** A process that stayed up this long had recovered: its next crash starts the backoff over. */
const STABLE_AFTER_MS = 30_000
const STOP_GRACE_MS = 2_000

// Supabase's own answers (hosted gateway / edge runtime), so callers see the same bodies.
const NOT_FOUND = { code: 'NOT_FOUND', message: 'Requested function was not found' }
const MISSING_AUTH = { code: 401, message: 'Missing authorization header' }
const NOT_BEARER = { code: 401, message: "Auth header is not 'Bearer {token}'" }
const INVALID_JWT = { code: 401, message: 'Invalid JWT' }
const BOOT_ERROR = { code: 'BOOT_ERROR', message: 'Function failed to start (please check logs)' }
const WORKER_ERROR = { code: 'WORKER_ERROR', message: 'Function exited due to an error (please check logs)' }

/** Names Supabase accepts for functions; also keeps paths inside functions/. */
const FUNCTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/

/** Headers that belong to one connection, never forwarded by a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** What supabase/config.toml says about one function, paths made absolute. */
export interface FunctionSpec {
  name: string
  entrypoint: string
  /** deno.json (passed as --config) or an import map (passed as --import-map). */
  importMap?: string
  verifyJwt: boolean
}

interface FunctionSection {
  enabled?: boolean
  verify_jwt?: boolean
  entrypoint?: string
  import_map?: string
}

/** The `[functions.<name>]` tables of a parsed config.toml, with the keys the host honours. */
export function functionSections(config: TomlTable): Map<string, FunctionSection> {
  const sections = new Map<string, FunctionSection>()
  for (const name of Object.keys(section(config, 'functions'))) {
    const table = section(config, 'functions', name)
    const entry: FunctionSection = {}
    if (typeof table['enabled'] === 'boolean') entry.enabled = table['enabled']
    if (typeof table['verify_jwt'] === 'boolean') entry.verify_jwt = table['verify_jwt']
    if (typeof table['entrypoint'] === 'string') entry.entrypoint = table['entrypoint']
    if (typeof table['import_map'] === 'string') entry.import_map = table['import_map']
    sections.set(name, entry)
  }
  return sections
}

/** The Deno binary of the `deno` npm package. */
function findDenoBinary(): string {
  const require = createRequire(import.meta.url)
  const packageDir = dirname(require.resolve('deno/package.json'))
  const binary = join(packageDir, process.platform === 'win32' ? 'deno.exe' : 'deno')
  if (existsSync(binary)) return binary
  // The package links its platform binary on install; do it now if that was skipped.
  const installer = require(join(packageDir, 'install_api.cjs')) as { runInstall(): string }
  return installer.runInstall()
}

class FunctionDown extends Error {
  constructor(
    readonly retryAfterMs: number,
    detail: string,
  ) {
    super(detail)
  }
}

/** One function's Deno process: started lazily, restarted on crash with backoff. */
class FunctionProcess {
  private child?: ChildProcess
  private port?: number
  private starting?: Promise<number>
  private failures = 0
  private downUntil = 0
  private restartTimer?: NodeJS.Timeout
  private readyAt = 0
  private closed = false

  constructor(
    private spec: FunctionSpec,
    private readonly host: FunctionHost,
  ) {}

  get pid(): number | undefined {
    return this.port === undefined ? undefined : this.child?.pid
  }

  /** A new spec (config.toml changed) takes effect on the next start. */
  update(spec: FunctionSpec): void {
    this.spec = spec
  }

  /** The port the running function listens on, starting it if needed. */
  async acquire(): Promise<number> {
    if (this.closed) throw new FunctionDown(0, 'the local stack is stopping')
    if (this.port === undefined) {
      const wait = this.downUntil - Date.now()
      if (!this.starting && wait > 0) throw new FunctionDown(wait, 'restarting after a failure')
      await (this.starting ?? this.start())
    }
    if (this.port === undefined) throw new FunctionDown(FIRST_BACKOFF_MS, 'exited right after starting')
    return this.port
  }

  private start(): Promise<number> {
    clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    const { name } = this.spec
    const startedAt = Date.now()
    let binary: string
    try {
      binary = this.host.denoBinary()
    } catch (error) {
      this.host.ctx.log(`functions/${name}: no Deno binary: ${(error as Error).message}`)
      return Promise.reject(new FunctionDown(MAX_BACKOFF_MS, 'no Deno binary'))
    }
    const child = spawn(binary, this.host.denoArgs(this.spec), {
      cwd: this.host.ctx.root,
      env: this.host.environment(this.spec),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.child = child
    const log = (line: string) => this.host.ctx.log(`functions/${name}: ${line}`)

    this.starting = new Promise<number>((resolvePort, rejectPort) => {
      let settled = false
      const settle = (error?: Error, port?: number) => {
        if (settled) return
        settled = true
        clearTimeout(bootTimer)
        this.starting = undefined
        if (error) rejectPort(error)
        else resolvePort(port!)
      }
      const bootTimer = setTimeout(() => {
        log(`did not start listening within ${BOOT_TIMEOUT_MS} ms; stopping it`)
        child.kill('SIGKILL')
      }, BOOT_TIMEOUT_MS)

      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!settled && line.startsWith(`${LISTENING_MARKER} `)) {
          const port = Number(line.slice(LISTENING_MARKER.length + 1))
          if (this.child === child) {
            this.port = port
            this.readyAt = Date.now()
          }
          log(`started in ${Date.now() - startedAt} ms (pid ${child.pid}, 127.0.0.1:${port})`)
          settle(undefined, port)
        } else log(line)
      })
      createInterface({ input: child.stderr! }).on('line', log)
      // The bootstrap exits when this pipe ends, so the process dies with the host.
      child.stdin!.on('error', () => {})

      child.once('error', (error) => {
        log(`could not run Deno: ${error.message}`)
        this.exited(child, false)
        settle(new FunctionDown(this.downUntil - Date.now(), error.message))
      })
      child.once('exit', (code, signal) => {
        const wasReady = settled
        const how = signal ? `signal ${signal}` : `code ${code}`
        if (!this.closed) log(wasReady ? `exited (${how})` : `failed to start (${how})`)
        this.exited(child, wasReady)
        settle(new FunctionDown(this.downUntil - Date.now(), `exited before listening (${how})`))
      })
    })
    return this.starting
  }

  /** Bookkeeping after the process is gone; a crash after start schedules a restart. */
  private exited(child: ChildProcess, wasReady: boolean): void {
    if (this.child !== child) return
    this.child = undefined
    this.port = undefined
    if (this.closed) return
    if (wasReady && Date.now() - this.readyAt > STABLE_AFTER_MS) this.failures = 0
    this.failures++
    const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** (this.failures - 1), MAX_BACKOFF_MS)
    this.downUntil = Date.now() + backoff
    // A function that ran and then crashed is brought back (it was serving);
    // one that cannot boot waits for the next request after the backoff.
    if (wasReady) {
      this.host.ctx.log(`functions/${this.spec.name}: restarting in ${backoff} ms`)
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined
        if (!this.closed && !this.child) this.start().catch(() => {})
      }, backoff)
      this.restartTimer.unref()
    }
  }

  async stop(): Promise<void> {
    this.closed = true
    clearTimeout(this.restartTimer)
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()))
    child.stdin?.end()
    child.kill('SIGTERM')
    const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exited
    clearTimeout(force)
  }
}

export class FunctionHost {
  private binary?: string
  private readonly processes = new Map<string, FunctionProcess>()
  private tempRoot?: string
  private readonly denoDir: string
  private closed = false
  private warned = new Set<string>()
  /**
   * Connections to the function processes, kept open between requests. A new loopback
   * connection per request cost more CPU than slack-events' own work on a two-core machine
   * (bench:ingest on PostgreSQL 15, alternating runs: 295 and 340 acks/s kept alive against
   * 267 and 288 new each time). A restarted process listens on a new port, so a connection
   * to a dead one is never handed out again once closed.
   */
  private readonly upstream = new Agent({ keepAlive: true })

  constructor(readonly ctx: StackContext) {
    this.denoDir = process.env.KONSTRUCT_DENO_DIR ?? join(hostRoot, '.konstruct', 'deno')
  }

  handle: RouteHandler = async (req, res, url) => {
    const match = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname)
    const name = match ? safeDecode(match[1]!) : ''
    const spec = FUNCTION_NAME.test(name) ? this.resolve(name) : undefined
    if (!spec) {
      req.resume()
      sendJson(res, 404, NOT_FOUND)
      return
    }
    // Preflight requests reach the function without a JWT, as on Supabase.
    if (spec.verifyJwt && req.method !== 'OPTIONS') {
      const refusal = await this.checkJwt(req.headers.authorization)
      if (refusal) {
        req.resume()
        sendJson(res, 401, refusal)
        return
      }
    }
    let port: number
    try {
      port = await this.process(spec).acquire()
    } catch (error) {
      req.resume()
      const retryAfter = error instanceof FunctionDown ? Math.max(1, Math.ceil(error.retryAfterMs / 1000)) : 1
      sendJson(res, 503, BOOT_ERROR, { 'retry-after': String(retryAfter) })
      return
    }
    await this.proxy(req, res, port, `/${name}${match?.[2] ?? ''}${url.search}`)
  }

  /** The Deno binary, looked up on first use so a stack without Deno still serves the rest. */
  denoBinary(): string {
    this.binary ??= findDenoBinary()
    return this.binary
  }

  /** The pid of a function's Deno process while it is running (for tests and logs). */
  pid(name: string): number | undefined {
    return this.processes.get(name)?.pid
  }

  /** Pids of all running function processes. */
  pids(): number[] {
    return [...this.processes.values()].flatMap((p) => (p.pid === undefined ? [] : [p.pid]))
  }

  /** Starts a function ahead of its first request; resolves once it listens. */
  async warm(name: string): Promise<void> {
    const spec = this.resolve(name)
    if (!spec) throw new Error(`no function ${name} in supabase/config.toml`)
    await this.process(spec).acquire()
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.processes.values()].map((p) => p.stop()))
    this.processes.clear()
    this.upstream.destroy()
    if (this.tempRoot) rmSync(this.tempRoot, { recursive: true, force: true })
  }

  private process(spec: FunctionSpec): FunctionProcess {
    let proc = this.processes.get(spec.name)
    if (!proc) {
      proc = new FunctionProcess(spec, this)
      if (this.closed) void proc.stop()
      this.processes.set(spec.name, proc)
    } else proc.update(spec)
    return proc
  }

  /** The function as supabase/config.toml declares it, or undefined (→ 404). */
  private resolve(name: string): FunctionSpec | undefined {
    const supabaseDir = join(this.ctx.root, 'supabase')
    const sections = functionSections(readProjectConfig(this.ctx.root))
    const declared = sections.get(name)
    if (!declared) {
      if (existsSync(join(this.ctx.root, 'functions', name, 'index.ts'))) {
        this.warnOnce(
          name,
          `functions/${name}/index.ts is not declared in supabase/config.toml; add [functions.${name}] with ` +
            `entrypoint = "../functions/${name}/index.ts" (Supabase would not deploy it either)`,
        )
      }
      return undefined
    }
    if (declared.enabled === false) return undefined
    // Paths in config.toml are relative to supabase/, as the Supabase CLI reads them.
    const entrypoint = resolve(supabaseDir, declared.entrypoint ?? join('functions', name, 'index.ts'))
    if (!existsSync(entrypoint)) {
      this.warnOnce(name, `[functions.${name}] entrypoint ${entrypoint} does not exist`)
      return undefined
    }
    let importMap = declared.import_map ? resolve(supabaseDir, declared.import_map) : undefined
    if (!importMap) {
      const own = ['deno.json', 'deno.jsonc']
        .map((file) => join(dirname(entrypoint), file))
        .find((file) => existsSync(file))
      importMap = own
    }
    return { name, entrypoint, importMap, verifyJwt: declared.verify_jwt ?? true }
  }

  private warnOnce(key: string, line: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.ctx.log(`functions: ${line}`)
  }

  private async checkJwt(authorization: string | undefined): Promise<object | undefined> {
    if (!authorization) return MISSING_AUTH
    const [scheme, token, ...rest] = authorization.trim().split(/\s+/)
    if (scheme !== 'Bearer' || !token || rest.length > 0) return NOT_BEARER
    // The legacy gateway check: a JWT signed by the project. An opaque key is not a JWT.
    const check = await verifyJwt(this.ctx.keys, token)
    return check.ok ? undefined : INVALID_JWT
  }

  /** Command line of one function's Deno process. */
  denoArgs(spec: FunctionSpec): string[] {
    const temp = this.tempDir(spec.name)
    const readable = [...new Set([this.ctx.root, hostRoot, temp].map((dir) => resolve(dir)))]
    const args = [
      'run',
      '--no-prompt',
      // deno.lock would be written into functions/; npm's lockfile already pins the packages.
      '--no-lock',
      // Resolve npm: imports from the repository's node_modules (after `npm ci`), never the network.
      '--node-modules-dir=manual',
      '--allow-net',
      '--allow-env',
      `--allow-read=${readable.join(',')}`,
      `--allow-write=${temp}`,
    ]
    if (spec.importMap) {
      const isDenoConfig = /^deno\.jsonc?$/.test(basename(spec.importMap))
      args.push(isDenoConfig ? `--config=${spec.importMap}` : `--import-map=${spec.importMap}`)
    }
    args.push(bootstrapPath, spec.entrypoint)
    return args
  }

  /**
   * The function's environment: Supabase's variables, then functions/.env, then
   * the env given to the stack (it wins, like `supabase functions serve --env-file`).
   * Nothing else of this Node process leaks in. SUPABASE_* names are reserved for
   * the platform's values, as the Supabase CLI skips them in env files.
   * SUPABASE_DB_URL is not set: PGlite has no Postgres wire endpoint here.
   */
  environment(spec: FunctionSpec): Record<string, string> {
    const fromFile = this.readDotenv()
    const user: Record<string, string> = {}
    for (const [key, value] of Object.entries({ ...fromFile, ...this.ctx.functionEnv })) {
      if (key.startsWith('SUPABASE_')) {
        this.warnOnce(`env:${key}`, `env ${key} is ignored: names starting with SUPABASE_ are set by the platform`)
        continue
      }
      user[key] = value
    }
    const temp = this.tempDir(spec.name)
    return {
      ...user,
      // What hosted functions receive: named keys as JSON objects, and the JWKS.
      SUPABASE_URL: this.ctx.url,
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: this.ctx.keys.publishableKey }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: this.ctx.keys.secretKey }),
      SUPABASE_JWKS: JSON.stringify(this.ctx.keys.jwks),
      // Legacy, still set on Supabase until the legacy keys are retired; the product reads none of them.
      SUPABASE_ANON_KEY: this.ctx.keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: this.ctx.keys.serviceRoleKey,
      DENO_DIR: this.denoDir,
      TMPDIR: temp,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_NO_PROMPT: '1',
      NO_COLOR: '1',
    }
  }

  private readDotenv(): Record<string, string> {
    const path = join(this.ctx.root, 'functions', '.env')
    try {
      return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>
    } catch {
      return {}
    }
  }

  private tempDir(name: string): string {
    this.tempRoot ??= mkdtempSync(join(tmpdir(), 'konstruct-functions-'))
    const dir = join(this.tempRoot, name)
    mkdirSync(dir, { recursive: true })
    if (!isAbsolute(this.denoDir)) throw new Error('DENO_DIR must be absolute')
    mkdirSync(this.denoDir, { recursive: true })
    return dir
  }

  /** Streams the request to the function and its response back, SSE included. */
  private proxy(req: IncomingMessage, res: ServerResponse, port: number, path: string): Promise<void> {
    return new Promise<void>((done) => {
      const headers = forwardableHeaders(req.headers)
      headers['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1'
      headers['x-forwarded-proto'] = 'http'
      if (req.headers.host) headers['x-forwarded-host'] = req.headers.host
      // A kept-alive connection to a process that just died fails like a crash on this
      // request (502); a new connection to it is refused, which means "down" (503).
      const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path, headers, agent: this.upstream })

      upstream.on('response', (answer) => {
        // The stack adds CORS headers to everything; Supabase leaves CORS of a
        // function's response to the function, so drop ours and pass its own.
        for (const header of res.getHeaderNames()) if (header.startsWith('access-control-')) res.removeHeader(header)
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardableHeaders(answer.headers))
        // A streamed body (SSE, chunked) may start late: let the caller see the
        // status now. A sized body goes out with its headers in one write.
        if (answer.headers['content-length'] === undefined) res.flushHeaders()
        answer.pipe(res)
        answer.on('error', () => res.destroy())
        answer.on('end', () => done())
        answer.on('close', () => done())
      })
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        req.unpipe(upstream)
        req.resume()
        if (res.headersSent) res.destroy(error)
        else if (error.code === 'ECONNREFUSED') {
          // Nothing listens any more: the process just died and its exit is not
          // processed yet. The function is down, as during a restart.
          sendJson(res, 503, BOOT_ERROR, { 'retry-after': '1' })
        } else {
          // It died (or dropped the connection) while handling this request.
          this.ctx.log(`functions: request to ${path} failed: ${error.message}`)
          sendJson(res, 502, WORKER_ERROR)
        }
        done()
      })
      // The caller went away (e.g. closed an event stream): tell the function.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy()
        done()
      })
      req.pipe(upstream)
    })
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return ''
  }
}

function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connectionScoped = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  )
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(key) || connectionScoped.has(key)) continue
    out[key] = value
  }
  return out
}
