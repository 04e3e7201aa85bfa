// Edge functions on the local stack: the real functions/<name>/index.ts under Deno,
// reached with the real supabase-js through /functions/v1, with Supabase's
// verify_jwt rules and error bodies; plus the supervisor (restart, streaming,
// env, permissions, no orphans) on fixture functions in a scratch project.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, type JWK } from 'jose'
import { parse } from 'smol-toml'
import { FunctionHost, functionSections } from '../../local/functions.ts'
import { sendJson, type StackContext } from '../../local/http.ts'
import { loadKeys, signLegacyJwt, signSession } from '../../local/keys.ts'
import type { LocalDb } from '../../local/db.ts'
import { repoRoot, startTestStack, type TestStack } from '../support/stack.ts'

const clientOptions = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  // Node 20 has no global WebSocket; supabase-js needs one to construct its realtime client.
  realtime: { transport: WebSocket as never },
}

/** Alive and not a zombie (a container's init may be slow to reap orphans). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return process.platform !== 'linux'
  }
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, attempts = 200): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** Deno processes that are children of this test process. */
function childDenoPids(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-x', 'deno'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    return [] // pgrep exits 1 when nothing matches
  }
}

describe('the project functions through supabase-js', () => {
  let stack: TestStack
  let stackClosed = false
  let anon: SupabaseClient

  beforeAll(async () => {
    stack = await startTestStack()
    anon = createClient(stack.url, stack.keys.publishableKey, clientOptions)
  })
  afterAll(async () => {
    if (!stackClosed) await stack?.close()
  })

  test('health answers supabase.functions.invoke', async () => {
    const { data, error } = await anon.functions.invoke('health', { method: 'GET' })
    expect(error).toBeNull()
    expect(data).toMatchObject({ status: 'ok', function: 'health' })
    expect(Number.isNaN(Date.parse(data.time))).toBe(false)
  })

  test('whoami checks its callers itself: no token, a forged or expired one, or a legacy HS256 one is a 401', async () => {
    const response = await fetch(`${stack.url}/functions/v1/whoami`, { method: 'POST' })
    expect(response.status).toBe(401)
    const sub = '6f1f3c1e-5a9b-4c59-9d1e-2d8f7f0b9a11'
    const claims = { sub, role: 'authenticated', aud: 'authenticated' }
    const wrongSecret = await signLegacyJwt('another-secret-that-is-at-least-32-characters', claims, 3600)
    // Even the project's own legacy secret: functions trust only the asymmetric keys.
    const legacy = await signLegacyJwt(stack.keys.jwtSecret, claims, 3600)
    const expired = await signSession(stack.keys, claims, -60)
    const { privateKey } = await generateKeyPair('ES256')
    const strangerKey = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: stack.keys.signing.kid })
      .setExpirationTime('1h')
      .sign(privateKey)
    for (const token of [wrongSecret, legacy, expired, strangerKey, stack.keys.serviceRoleKey, 'not-a-jwt']) {
      const { data, error } = await anon.functions.invoke('whoami', { headers: { Authorization: `Bearer ${token}` } })
      expect(data).toBeNull()
      expect(error).toBeInstanceOf(FunctionsHttpError)
      expect(((error as FunctionsHttpError).context as Response).status).toBe(401)
    }
  })

  test('a user signed in with the publishable key gets an ES256 session that the JWKS verifies and the function accepts', async () => {
    const user = await stack.newUser('whoami')
    const { data: session } = await user.client.auth.getSession()
    const token = session.session!.access_token
    const header = decodeProtectedHeader(token)
    expect(header.alg).toBe('ES256')
    const jwks = (await (await fetch(`${stack.url}/auth/v1/.well-known/jwks.json`)).json()) as { keys: JWK[] }
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid)
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true) // public parts only
    const { payload } = await jwtVerify(
      token,
      createRemoteJWKSet(new URL(`${stack.url}/auth/v1/.well-known/jwks.json`)),
    )
    expect(payload).toMatchObject({ sub: user.userId, role: 'authenticated', is_anonymous: false })
    // getClaims() verifies it the same way (the portal's check).
    const { data: verified, error: claimsError } = await user.client.auth.getClaims()
    expect(claimsError).toBeNull()
    expect(verified?.claims.sub).toBe(user.userId)
    const { data, error } = await user.client.functions.invoke('whoami')
    expect(error).toBeNull()
    expect(data).toEqual({ role: 'authenticated', sub: user.userId, is_anonymous: false })
  })

  test('the publishable key is anon and a secret key is the server, to a function that checks', async () => {
    const { data, error } = await anon.functions.invoke('whoami')
    expect(error).toBeNull()
    expect(data).toEqual({ role: 'anon', sub: null })
    const asServer = await fetch(`${stack.url}/functions/v1/whoami`, {
      headers: { Authorization: `Bearer ${stack.keys.secretKey}` },
    })
    expect(await asServer.json()).toEqual({ role: 'service_role', sub: null })
  })

  test('an unknown function is a 404 with Supabase’s body', async () => {
    for (const path of ['does-not-exist', 'does-not-exist/sub/path', '..%2Fsupabase', '_shared', '%E0%A4%A']) {
      const response = await fetch(`${stack.url}/functions/v1/${path}`, {
        headers: { Authorization: `Bearer ${stack.keys.anonKey}` },
      })
      expect(response.status).toBe(404)
      expect(await response.json()).toEqual({ code: 'NOT_FOUND', message: 'Requested function was not found' })
    }
  })

  // Last in this block: it closes the stack.
  test('close() leaves no Deno process behind', async () => {
    const running = childDenoPids()
    expect(running.length).toBeGreaterThanOrEqual(2) // health and whoami
    stackClosed = true
    await stack.close()
    expect(running.filter(isRunning)).toEqual([])
  })
})

describe('functions/deno.json', () => {
  test('pins every npm: import to the exact version installed from package.json', () => {
    // Deno resolves npm: imports from node_modules (--node-modules-dir=manual), so the
    // versions must match what `npm ci` installs; deploys fetch the same versions.
    const denoJson = JSON.parse(readFileSync(join(repoRoot, 'functions/deno.json'), 'utf8')) as {
      imports: Record<string, string>
    }
    const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string>
    >
    const declared = { ...packageJson.dependencies, ...packageJson.devDependencies }
    for (const [alias, target] of Object.entries(denoJson.imports)) {
      const match = /^npm:(@?[^@]+)@(\d+\.\d+\.\d+[^/]*)(\/.*)?$/.exec(target)
      expect(match, `${alias} → ${target} is an npm: import with an exact version`).not.toBeNull()
      expect(declared[match![1]!], `${match![1]} in package.json`).toBe(match![2])
    }
  })
})

describe('config parsing', () => {
  test('reads [functions.<name>] tables of config.toml, quoted names and dotted sub-tables too', () => {
    const sections = functionSections(
      parse(`
[api]
enabled = true
[functions.a]
verify_jwt = false # public
entrypoint = "../functions/a/index.ts"
[functions."b-c"]
enabled = false
import_map = '../functions/deno.json'
static_files = ["./x/*.html"]
`),
    )
    expect(sections.get('a')).toEqual({ verify_jwt: false, entrypoint: '../functions/a/index.ts' })
    expect(sections.get('b-c')).toEqual({ enabled: false, import_map: '../functions/deno.json' })
    expect(sections.size).toBe(2)
  })
})

// A scratch project with fixture functions, served by a FunctionHost of its own.
const echoFunction = `
import { createClient } from '@supabase/supabase-js'

let streamCancelled = false
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

Deno.serve(async (req) => {
  const url = new URL(req.url)
  const route = url.pathname.replace(/^\\/echo/, '')
  if (route === '/throw') throw new Error('boom on purpose')
  if (route === '/exit') Deno.exit(3)
  if (route === '/env') {
    const env = Deno.env.toObject()
    return json({ env, supabaseJs: typeof createClient(env.SUPABASE_URL!, env.SUPABASE_ANON_KEY!).rpc })
  }
  if (route === '/write') {
    const attempt = async (path: string) => {
      try {
        await Deno.writeTextFile(path, 'x')
        return 'written'
      } catch (error) {
        return (error as Error).name
      }
    }
    return json({
      tmp: await attempt(Deno.env.get('TMPDIR') + '/ok.txt'),
      repo: await attempt(Deno.cwd() + '/functions/pwned.txt'),
    })
  }
  if (route === '/sse') {
    streamCancelled = false
    let tick = 0
    let timer: number | undefined
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: first\\n\\n'))
        // Then one event a second until the caller goes away.
        timer = setInterval(() => controller.enqueue(new TextEncoder().encode('data: ' + ++tick + '\\n\\n')), 1000)
      },
      cancel() {
        clearInterval(timer)
        streamCancelled = true
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }
  if (route === '/sse-cancelled') return json({ cancelled: streamCancelled })
  return json({
    method: req.method,
    path: url.pathname,
    query: url.search,
    header: req.headers.get('x-test'),
    body: await req.text(),
    pid: Deno.pid,
  })
})
`

describe('the function host (fixture functions)', () => {
  let root: string
  let server: Server
  let host: FunctionHost
  let base: string
  const logs: string[] = []
  const keysPromise = loadKeys()

  beforeAll(async () => {
    process.env.KONSTRUCT_TEST_MUST_NOT_LEAK = 'secret'
    root = mkdtempSync(join(tmpdir(), 'konstruct-fn-test-'))
    // The scratch project resolves npm: imports from this repository's node_modules.
    symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir')
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'fixture', private: true, type: 'module' }))
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true })
      writeFileSync(join(root, path), text)
    }
    write('functions/deno.json', readFileSync(join(repoRoot, 'functions/deno.json'), 'utf8'))
    write('functions/echo/index.ts', echoFunction)
    write(
      'functions/guarded/index.ts',
      `Deno.serve((req) => new Response(req.method === 'OPTIONS' ? null : 'in', { status: req.method === 'OPTIONS' ? 204 : 200, headers: { 'access-control-allow-origin': '*' } }))`,
    )
    write('functions/broken/index.ts', `throw new Error('cannot boot')`)
    write('functions/disabled/index.ts', `Deno.serve(() => new Response('no'))`)
    write('functions/undeclared/index.ts', `Deno.serve(() => new Response('no'))`)
    write('functions/exported/index.ts', `export default { fetch: () => new Response('default export') }`)
    write('functions/.env', 'FROM_FILE=file-value\nOVERRIDDEN=from-file\nSUPABASE_URL=http://ignored.example\n')
    const section = (name: string, extra = '') =>
      `[functions.${name}]\nentrypoint = "../functions/${name}/index.ts"\nimport_map = "../functions/deno.json"\n${extra}\n`
    write(
      'supabase/config.toml',
      [
        section('echo', 'verify_jwt = false'),
        section('guarded'),
        section('broken', 'verify_jwt = false'),
        section('disabled', 'enabled = false\nverify_jwt = false'),
        section('exported', 'verify_jwt = false'),
      ].join('\n'),
    )

    server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const ctx: StackContext = {
      db: undefined as unknown as LocalDb,
      keys: await keysPromise,
      url: base,
      root,
      functionEnv: { GREETING: 'from-caller', OVERRIDDEN: 'from-caller', SUPABASE_ANON_KEY: 'ignored' },
      log: (line) => logs.push(line),
    }
    host = new FunctionHost(ctx)
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', base)
      if (!url.pathname.startsWith('/functions/v1/')) return sendJson(res, 404, {})
      host.handle(req, res, url, ctx).catch((error: unknown) => {
        logs.push(`handler failed: ${String(error)}`)
        if (!res.headersSent) sendJson(res, 500, { message: 'host failed' })
      })
    })
  })

  afterAll(async () => {
    delete process.env.KONSTRUCT_TEST_MUST_NOT_LEAK
    await host?.close()
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    if (root) rmSync(root, { recursive: true, force: true })
  })

  const call = (path: string, init?: RequestInit) => fetch(`${base}/functions/v1/${path}`, init)

  test('proxies method, path, query, headers and body; the function sees /<name>/<rest>', async () => {
    const body = 'x'.repeat(200_000)
    const response = await call('echo/a/b?q=1&r=two', { method: 'PUT', headers: { 'x-test': 'yes' }, body })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      method: 'PUT',
      path: '/echo/a/b',
      query: '?q=1&r=two',
      header: 'yes',
      body,
    })
  })

  test('env: Supabase’s variables, functions/.env, then the caller’s env; nothing else leaks', async () => {
    const { env, supabaseJs } = (await (await call('echo/env')).json()) as {
      env: Record<string, string>
      supabaseJs: string
    }
    const keys = await keysPromise
    expect(supabaseJs).toBe('function') // npm:@supabase/supabase-js resolved offline from node_modules
    expect(env).toMatchObject({
      SUPABASE_URL: base,
      SUPABASE_ANON_KEY: keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
      FROM_FILE: 'file-value',
      GREETING: 'from-caller',
      OVERRIDDEN: 'from-caller',
    })
    expect(env.SUPABASE_DB_URL).toBeUndefined()
    expect(env.KONSTRUCT_TEST_MUST_NOT_LEAK).toBeUndefined()
    expect(env.HOME).toBeUndefined()
  })

  test('may write only in its temp dir', async () => {
    expect(await (await call('echo/write')).json()).toEqual({ tmp: 'written', repo: 'NotCapable' })
  })

  test('a handler that throws is the function’s 500, and the function keeps serving', async () => {
    const pid = host.pid('echo')
    const response = await call('echo/throw')
    expect(response.status).toBe(500)
    await response.text()
    expect((await call('echo/ok')).status).toBe(200)
    expect(host.pid('echo')).toBe(pid)
  })

  test('streams a response (SSE) as it is produced, and cancels it when the caller leaves', async () => {
    const controller = new AbortController()
    const response = await call('echo/sse', { signal: controller.signal })
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const reader = response.body!.getReader()
    const first = await reader.read() // arrives long before the stream ends (it never does)
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n')
    controller.abort()
    await reader.cancel().catch(() => {})
    await until(async () => {
      const { cancelled } = (await (await call('echo/sse-cancelled')).json()) as { cancelled: boolean }
      return cancelled || undefined
    }, 'the function to see the stream cancelled')
  })

  test('verify_jwt defaults to true; preflight OPTIONS still reaches the function', async () => {
    expect((await call('guarded')).status).toBe(401)
    const keys = await keysPromise
    const ok = await call('guarded', { headers: { Authorization: `Bearer ${keys.serviceRoleKey}` } })
    expect(await ok.text()).toBe('in')
    expect((await call('guarded', { method: 'OPTIONS' })).status).toBe(204)
  })

  test('disabled and undeclared functions are not found', async () => {
    for (const name of ['disabled', 'undeclared']) {
      const response = await call(name)
      expect(response.status).toBe(404)
      expect(await response.json()).toEqual({ code: 'NOT_FOUND', message: 'Requested function was not found' })
    }
    expect(logs.some((line) => line.includes('functions/undeclared/index.ts is not declared'))).toBe(true)
  })

  test('`export default { fetch }` is served too', async () => {
    expect(await (await call('exported')).text()).toBe('default export')
  })

  test('a function that cannot boot answers 503 BOOT_ERROR and the host lives on', async () => {
    for (let i = 0; i < 2; i++) {
      const response = await call('broken')
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(await response.json()).toEqual({
        code: 'BOOT_ERROR',
        message: 'Function failed to start (please check logs)',
      })
    }
    expect(logs.some((line) => line.includes('cannot boot'))).toBe(true)
    expect((await call('echo/ok')).status).toBe(200)
  })

  /** Calls echo until it answers 200 (it may be down or restarting); its pid. */
  const echoPid = () =>
    until(async () => {
      const r = await call('echo/ok')
      if (r.status !== 200) {
        // Down: refused (503) or reset by the dying process (502), always JSON.
        expect([502, 503]).toContain(r.status)
        expect(['BOOT_ERROR', 'WORKER_ERROR']).toContain(((await r.json()) as { code: string }).code)
        return undefined
      }
      return ((await r.json()) as { pid: number }).pid
    }, 'echo to answer')

  test('a function that dies mid-request gives a 502 and is restarted', async () => {
    const pid = await echoPid()
    const response = await call('echo/exit')
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({
      code: 'WORKER_ERROR',
      message: 'Function exited due to an error (please check logs)',
    })
    const next = await echoPid()
    expect(next).not.toBe(pid)
    expect(isRunning(pid)).toBe(false)
  })

  test('a killed function process is restarted and answers again', async () => {
    const pid = await echoPid()
    expect(host.pid('echo')).toBe(pid)
    process.kill(pid, 'SIGKILL')
    const next = await echoPid()
    expect(next).not.toBe(pid)
    expect(host.pid('echo')).toBe(next)
  })

  test('close() stops every function process', async () => {
    await call('exported').then((r) => r.text())
    const pids = host.pids()
    expect(pids.length).toBeGreaterThanOrEqual(2)
    await host.close()
    expect(pids.filter(isRunning)).toEqual([])
    const after = await call('echo/ok')
    expect(after.status).toBe(503)
  })

  test('function processes exit when the Node process that owns them is killed', async () => {
    const script = join(root, 'owner.mts')
    writeFileSync(
      script,
      `import { FunctionHost } from ${JSON.stringify(join(repoRoot, 'local/functions.ts'))}
import { loadKeys } from ${JSON.stringify(join(repoRoot, 'local/keys.ts'))}
const host = new FunctionHost({ db: undefined as never, keys: await loadKeys(), url: 'http://127.0.0.1:9', root: ${JSON.stringify(root)}, functionEnv: {}, log: () => {} })
await host.warm('exported')
console.log(host.pid('exported'))
setInterval(() => {}, 1000)
`,
    )
    const owner = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      // Its temp dir cannot be removed by a killed owner: keep it inside the scratch project.
      env: { ...process.env, TMPDIR: root },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const denoPid = await new Promise<number>((resolve, reject) => {
      owner.stdout.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())))
      owner.once('exit', (code) => reject(new Error(`owner exited early (${code})`)))
    })
    expect(isRunning(denoPid)).toBe(true)
    owner.kill('SIGKILL')
    await until(async () => (isRunning(denoPid) ? undefined : true), 'the orphaned Deno process to exit')
  })
})
