// `npm start`, `npm run env` and `npm run test:db`: the docker-free local stack.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deriveKeys, DEFAULT_JWT_SECRET, type StackKeys } from './keys.ts'
import { runPgTap } from './pgtap.ts'
import { startStack } from './server.ts'
import { DEMO_ADMIN } from './demo.ts'
import { startPortal, type Portal } from './portal.ts'

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
const jwtSecret = process.env.SUPABASE_JWT_SECRET ?? DEFAULT_JWT_SECRET

function envLines(keys: StackKeys): string[] {
  return [
    `SUPABASE_URL=${apiUrl}`,
    `SUPABASE_ANON_KEY=${keys.anonKey}`,
    `SUPABASE_SERVICE_ROLE_KEY=${keys.serviceRoleKey}`,
    `SUPABASE_JWT_SECRET=${keys.jwtSecret}`,
    `PORTAL_URL=${portalUrl}`,
  ]
}

// Variables a shell or npm sets for itself; everything else given to `npm start`
// reaches the functions, like `supabase functions serve --env-file`.
const notForFunctions =
  /^(npm_|NODE_|PATH$|HOME$|PWD$|OLDPWD$|SHELL$|SHLVL$|TERM|USER$|LOGNAME$|HOSTNAME$|LANG$|LC_|_$|COLOR$|EDITOR$|INIT_CWD$|MAIL$)/

function functionEnvFromProcess(): Record<string, string> {
  return {
    // The web chat signs visitor tokens that Realtime must accept: with the
    // project's JWT secret, which hosted projects set as a function secret.
    WEB_CHAT_JWT_SECRET: jwtSecret,
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
  const memory = flag('memory')
  const dataDir = memory ? undefined : join(root, '.konstruct', 'db')
  const unlock = dataDir ? lockDataDir(dataDir) : () => {}
  const log = (line: string) => console.log(`[local] ${line}`)
  console.log('Konstruct local development stack: for development and tests only, bound to 127.0.0.1.')
  console.log(memory ? 'Database: in memory (gone when this stops).' : `Database: ${dataDir}`)
  const stack = await startStack({
    root,
    dataDir,
    port: apiPort,
    jwtSecret,
    functionEnv: functionEnvFromProcess(),
    log,
  })
  let portal: Portal | undefined
  if (existsSync(join(root, 'web', 'package.json')) && !flag('no-portal')) {
    try {
      portal = await startPortal({
        root,
        supabaseUrl: stack.url,
        anonKey: stack.keys.anonKey,
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
  console.log(`  API:       ${stack.url}/rest/v1/rpc/<function> (schema api)`)
  console.log(`  Auth:      ${stack.url}/auth/v1`)
  console.log(`  Realtime:  ${stack.url.replace('http', 'ws')}/realtime/v1/websocket`)
  console.log(`  Functions: ${stack.url}/functions/v1/<name>`)
  if (portal) console.log(`  Portal:    ${portalUrl}`)
  console.log(`  Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`)
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
    for (const line of envLines(await deriveKeys(jwtSecret))) console.log(line)
  } else if (command === 'start') {
    await start()
  } else if (command === 'test-db') {
    const results = await runPgTap(root, (line) => console.log(line), args[1])
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
