// A newcomer's first minutes: `npm start`, then the curl commands of supabase/README.md
// ("Proving it with curl") exactly as written, in bash. They must sign in, find the
// demo tenant and its knowledge, and the signed Slack mention and WhatsApp message must
// be answered by the demo agent, with the replies landing in the local stack's recorder
// (not on the internet), where the newcomer can see them. `npm start` also prints the demo's
// platform admin, who can open the platform console, and `npm run platform-admin` grants and
// revokes the role through the api with the secret key it printed.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import { repoRoot } from '../support/stack.ts'
import { until } from '../support/until.ts'

let stackProcess: ChildProcess | undefined
let port = 0
let output = ''

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A shell like a newcomer's: PATH and HOME, nothing of this test's environment. */
const shellEnv = () => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  KONSTRUCT_API_PORT: String(port),
  KONSTRUCT_PORTAL_PORT: String(port + 1),
})

/** The ```sh block under "## Proving it with curl" in supabase/README.md. */
function readmeCurlBlock(): string {
  const readme = readFileSync(join(repoRoot, 'supabase', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Proving it with curl'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  if (!block) throw new Error('no sh block under "Proving it with curl" in supabase/README.md')
  return block
}

beforeAll(async () => {
  port = await freePort()
  // `npm start`, in memory and without the portal (the browser tests cover the portal).
  stackProcess = spawn('npx', ['tsx', 'local/cli.ts', 'start', '--memory', '--no-portal'], {
    cwd: repoRoot,
    env: shellEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  stackProcess.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  stackProcess.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await until(() => output.includes('Ctrl-C stops everything'), 'the stack started', 180_000)
}, 200_000)

afterAll(async () => {
  if (stackProcess && stackProcess.exitCode === null) {
    const exited = new Promise((resolve) => stackProcess!.once('exit', resolve))
    stackProcess.kill('SIGTERM')
    await exited
  }
})

test('the README curl commands work as written against `npm start`', async () => {
  const script = readmeCurlBlock()
  // -e and pipefail: a failing command (e.g. the sign-in) stops the script and fails here.
  // stdin not a socket: bash would take itself for a remote shell and source bash.bashrc.
  const run = spawn('bash', ['-eo', 'pipefail', '-c', script], {
    cwd: repoRoot,
    env: shellEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  run.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  run.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => run.once('exit', resolve))
  expect({ code, stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/error|fail/i) })

  expect(stdout).toContain('Konstruct Demo') // signed in, list_my_tenants
  expect(stdout).toMatch(/refund/i) // search_knowledge found the FAQ passage
  expect(stdout).not.toMatch(/BOOT_ERROR|unauthorized|invalid signature/i)

  // The demo agent answers the Slack mention in its thread and the WhatsApp sender,
  // and the replies are in the recorder, as `npm start` prints.
  expect(output).toContain(`/recorder/v1/messages`)
  const replies = await until(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/recorder/v1/messages`)
      const messages = (await res.json()) as Array<{ channel: string; method: string; to: string; text: string }>
      const slack = messages.find((m) => m.channel === 'slack' && m.to === 'C0GENERAL' && m.text)
      const whatsapp = messages.find((m) => m.channel === 'whatsapp' && m.to === '15551234567' && m.text)
      return slack && whatsapp ? { slack, whatsapp } : undefined
    },
    'replies in the recorder',
    120_000,
  )
  expect(replies.slack.text).toMatch(/refund/i)
  expect(replies.whatsapp.text).toMatch(/refund/i)
  expect(output).toMatch(/recorder: slack chat\.postMessage to C0GENERAL/)
}, 300_000)

/** Runs a command like a newcomer would, with extra environment; its exit code and output. */
async function runCommand(args: string[], env: Record<string, string>) {
  const child = spawn('npx', args, { cwd: repoRoot, env: { ...shellEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, out }
}

test('`npm start` prints the platform admin, who reaches the console; the script grants and revokes the role', async () => {
  const printed = (name: string) => new RegExp(`${name}=(\\S+)`).exec(output)?.[1]
  const url = printed('SUPABASE_URL')!
  const publishableKey = printed('SUPABASE_PUBLISHABLE_KEY')!
  const secretKey = printed('SUPABASE_SECRET_KEY')!
  expect([url, publishableKey, secretKey].every(Boolean)).toBe(true)
  const client = () =>
    createClient(url, publishableKey, {
      db: { schema: 'api' },
      auth: { persistSession: false },
      // Node 20 has no global WebSocket; realtime-js takes ws as its transport.
      realtime: { transport: WebSocket as never },
    })
  const consoleRows = async (c: ReturnType<typeof client>) => c.rpc('platform_list_tenants', {})

  // The printed demo platform admin signs in and lists every workspace.
  const [, email, password] = /Platform admin: (\S+) \/ (\S+)/.exec(output) ?? []
  expect(email && password).toBeTruthy()
  const platform = client()
  expect((await platform.auth.signInWithPassword({ email: email!, password: password! })).error).toBeNull()
  const listed = await consoleRows(platform)
  expect(listed.error).toBeNull()
  expect((listed.data as Array<{ name: string }>).map((t) => t.name)).toContain('Konstruct Demo')

  // A self-hoster's colleague signs up; the console refuses them until the script grants it.
  const colleague = client()
  const colleagueEmail = `ops-${Date.now()}@example.test`
  expect((await colleague.auth.signUp({ email: colleagueEmail, password: 'correct-horse-battery' })).error).toBeNull()
  expect((await consoleRows(colleague)).error?.code).toBe('42501')
  const env = { SUPABASE_URL: url, SUPABASE_SECRET_KEY: secretKey }
  const granted = await runCommand(['tsx', 'scripts/platform-admin.ts', 'grant', colleagueEmail], env)
  expect(granted).toMatchObject({ code: 0, out: expect.stringContaining(`${colleagueEmail} is a platform admin`) })
  expect((await consoleRows(colleague)).error).toBeNull()
  const revoked = await runCommand(['tsx', 'scripts/platform-admin.ts', 'revoke', colleagueEmail], env)
  expect(revoked).toMatchObject({ code: 0, out: expect.stringContaining('is no longer a platform admin') })
  expect((await consoleRows(colleague)).error?.code).toBe('42501')

  // Someone who never signed up is named, and nothing changes.
  const unknown = await runCommand(['tsx', 'scripts/platform-admin.ts', 'grant', 'nobody@example.test'], env)
  expect(unknown).toMatchObject({ code: 1, out: expect.stringContaining('No user has the email nobody@example.test') })
  // Without the secret key the api refuses it.
  const keyless = await runCommand(['tsx', 'scripts/platform-admin.ts', 'grant', colleagueEmail], {
    SUPABASE_URL: url,
    SUPABASE_SECRET_KEY: publishableKey,
  })
  expect(keyless.code).not.toBe(0)
  expect((await consoleRows(colleague)).error?.code).toBe('42501')
}, 120_000)
