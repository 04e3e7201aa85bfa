// `npm start`, `npm run env` and `npm run test:db`: the docker-free local stack.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadKeys, DEFAULT_JWT_SECRET, type StackKeys } from './keys.ts'
import { runPgTap } from './pgtap.ts'
import { chosenDatabase, startStack } from './server.ts'
import { DEMO_ADMIN, DEMO_PLATFORM_ADMIN } from './demo.ts'
import { startPortal, type Portal } from './portal.ts'
import { DEV_CHANNEL_SECRETS, DEV_WORKER_SECRET } from './dev-secrets.ts'
import { parseEnv } from 'node:util'
import { Recorder, RECORDER_PATH } from './recorder.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const command = args[0] ?? 'start'
const flag = (name: string) => args.includes(`--${name}`)
const option = (name: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}

const apiPort = Number(option('port') ?? process.env.KONSTRUCT_API_PORT ?? 54321)
const portalPort = Number(process.env.KONSTRUCT_PORTAL_PORT ?? 5173)
const apiUrl = `http://127.0.0.1:${apiPort}`
const portalUrl = `http://127.0.0.1:${portalPort}`
const jwtSecret = process.env.SUPABASE_JWT_SECRET || DEFAULT_JWT_SECRET

/** Where a file-backed stack keeps its session signing key (the CLI's signing_keys.json format). */
const signingKeysFile = join(root, '.konstruct', 'signing_keys.json')

/** `supabase status -o env` style: the current keys first, then the legacy ones, marked. */
function envLines(keys: StackKeys): string[] {
  return [
    `SUPABASE_URL=${apiUrl}`,
    `SUPABASE_PUBLISHABLE_KEY=${keys.publishableKey}`,
    `SUPABASE_SECRET_KEY=${keys.secretKey}`,
    `PORTAL_URL=${portalUrl}`,
  ]
}

function legacyKeyLines(keys: StackKeys): string[] {
  return [
    '# legacy keys (Supabase retires them at the end of 2026; still accepted locally):',
    `SUPABASE_ANON_KEY=${keys.anonKey}`,
    `SUPABASE_SERVICE_ROLE_KEY=${keys.serviceRoleKey}`,
    `SUPABASE_JWT_SECRET=${keys.jwtSecret}`,
  ]
}

// The development secrets and the recorder's URLs the functions get, unless given to
// `npm start` or in functions/.env; printed by `npm run env` (the values in effect), so
// the README's signed curl commands work as written.
function devDefaults(): Record<string, string> {
  const dotenv = join(root, 'functions', '.env')
  const fromFile = existsSync(dotenv) ? (parseEnv(readFileSync(dotenv, 'utf8')) as Record<string, string>) : {}
  const defaults: Record<string, string> = {
    ...DEV_CHANNEL_SECRETS,
    KONSTRUCT_WORKER_SECRET: DEV_WORKER_SECRET,
    ...Recorder.env(apiUrl),
  }
  return Object.fromEntries(Object.entries(defaults).filter(([key]) => !(key in fromFile)))
}

function devSecretLines(): string[] {
  const defaults = devDefaults()
  return [
    'SLACK_SIGNING_SECRET',
    'WHATSAPP_APP_SECRET',
    'WHATSAPP_VERIFY_TOKEN',
    'STRIPE_WEBHOOK_SECRET',
    'KONSTRUCT_WORKER_SECRET',
  ].flatMap((key) => {
    const value = process.env[key] ?? defaults[key]
    return value === undefined ? [] : [`${key}=${value}`]
  })
}

// Variables a shell or npm sets for itself; everything else given to `npm start`
// reaches the functions, like `supabase functions serve --env-file`.
const notForFunctions =
  /^(npm_|NODE_|PATH$|HOME$|PWD$|OLDPWD$|SHELL$|SHLVL$|TERM|USER$|LOGNAME$|HOSTNAME$|LANG$|LC_|_$|COLOR$|EDITOR$|INIT_CWD$|MAIL$)/

function functionEnvFromProcess(): Record<string, string> {
  return {
    // A model server on this machine (Ollama, vLLM) may serve a tenant's agents locally.
    MODEL_ALLOW_LOCAL_ENDPOINTS: 'true',
    ...devDefaults(),
    ...givenEnv(),
  }
}

function givenEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && !notForFunctions.test(entry[0]),
    ),
  )
}

function redactPassword(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@')
}

/** One process owns a database directory: refuse a second one. */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const lock = join(dataDir, '..', 'konstruct.pid')
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8'))
    let alive = false
    try {
      process.kill(pid, 0)
      alive = pid !== process.pid
    } catch {
      alive = false
    }
    if (alive) throw new Error(`another local stack (pid ${pid}) owns ${dataDir}; stop it first`)
  }
  writeFileSync(lock, String(process.pid))
  return () => rmSync(lock, { force: true })
}

async function start(): Promise<void> {
  const db = chosenDatabase(args)
  const pglite = !db || db === 'pglite'
  const memory = flag('memory')
  const dataDir = memory || !pglite ? undefined : join(root, '.konstruct', 'db')
  const unlock = dataDir ? lockDataDir(dataDir) : () => {}
  const log = (line: string) => console.log(`[local] ${line}`)
  console.log('Konstruct local development stack: for development and tests only, bound to 127.0.0.1.')
  console.log(
    db === 'native'
      ? 'Database: a throwaway native PostgreSQL (gone when this stops).'
      : !pglite
        ? `Database: ${redactPassword(db)}`
        : memory
          ? 'Database: in memory (gone when this stops).'
          : `Database: ${dataDir}`,
  )
  const functionEnv = functionEnvFromProcess()
  const stack = await startStack({
    root,
    db,
    dataDir,
    port: apiPort,
    jwtSecret,
    signingKeysFile: dataDir ? signingKeysFile : undefined,
    functionEnv,
    log,
  })
  let portal: Portal | undefined
  if (existsSync(join(root, 'web', 'package.json')) && !flag('no-portal')) {
    try {
      portal = await startPortal({
        root,
        supabaseUrl: stack.url,
        publishableKey: stack.keys.publishableKey,
        port: portalPort,
        mode: 'dev',
      })
    } catch (error) {
      await stack.close()
      unlock()
      throw new Error(`the portal did not start: ${(error as Error).message}`, { cause: error })
    }
  }
  console.log('')
  for (const line of envLines(stack.keys)) console.log(`  ${line}`)
  for (const line of devSecretLines()) console.log(`  ${line}`)
  for (const line of legacyKeyLines(stack.keys)) console.log(`  ${line}`)
  console.log(`  API:       ${stack.url}/rest/v1/rpc/<function> (schema api)`)
  console.log(`  Auth:      ${stack.url}/auth/v1`)
  console.log(`  Realtime:  ${stack.url.replace('http', 'ws')}/realtime/v1/websocket`)
  console.log(`  Functions: ${stack.url}/functions/v1/<name>`)
  if (portal) console.log(`  Portal:    ${portalUrl}`)
  if (functionEnv.SLACK_API_URL?.includes(RECORDER_PATH)) {
    console.log(`  Recorder:  ${stack.url}${RECORDER_PATH}/messages (the demo's Slack and WhatsApp replies)`)
  }
  console.log(`  Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`)
  console.log(`  Platform admin: ${DEMO_PLATFORM_ADMIN.email} / ${DEMO_PLATFORM_ADMIN.password}`)
  console.log('\nCtrl-C stops everything.')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`\n${signal}: stopping the local stack…`)
    await portal?.stop()
    await stack.close()
    unlock()
    console.log('stopped.')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

async function main(): Promise<void> {
  if (command === 'env') {
    const keys = await loadKeys({ jwtSecret })
    for (const line of [...envLines(keys), ...devSecretLines(), ...legacyKeyLines(keys)]) console.log(line)
  } else if (command === 'start') {
    await start()
  } else if (command === 'test-db') {
    // `test-db [part …] [--db …]`: only the test files whose path contains a part.
    const only = args.slice(1).filter((arg, i, all) => !arg.startsWith('--') && all[i - 1] !== '--db')
    const results = await runPgTap(root, (line) => console.log(line), only, chosenDatabase(args))
    const failed = results.filter((r) => r.error || r.failed > 0 || r.planned !== r.passed + r.failed)
    const tests = results.reduce((n, r) => n + r.passed + r.failed, 0)
    console.log(`\npgTAP: ${results.length} files, ${tests} tests, ${failed.length} files failed`)
    process.exitCode = failed.length > 0 || results.length === 0 ? 1 : 0
  } else {
    throw new Error(`unknown command ${command}; use start, env or test-db`)
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exit(1)
})
