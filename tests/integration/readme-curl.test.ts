// A newcomer's first minutes: `npm start`, then the curl commands of supabase/README.md
// ("Proving it with curl") exactly as written, in bash. They must sign in, find the
// demo tenant and its knowledge, and the signed Slack mention and WhatsApp message must
// be answered by the demo agent, with the replies landing in the local stack's recorder
// (not on the internet), where the newcomer can see them.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
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
