// Why the functions call Slack through shared/channels/slack/web-api.ts (typed with
// @slack/web-api's argument types) and not through @slack/web-api's WebClient: under Deno,
// with the permissions the functions run with (the local stack's: net, env, read; no sys),
// importing @slack/web-api 8.2.0 fails before any call, because it reads os.release() for
// its User-Agent at import. Our own client, streaming methods included, loads and runs.
// Should a new version load, the first test says so and the package's client can be used.
import { execFile } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { repoRoot } from '../support/stack.ts'

// Under the repository, so Deno finds node_modules the way the functions do.
const dir = join(repoRoot, '.konstruct', `deno-probe-${process.pid}`)
const deno = join(repoRoot, 'node_modules', '.bin', 'deno')

beforeAll(() => mkdirSync(dir, { recursive: true }))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs a module under Deno with the flags local/functions.ts gives a function. */
function runUnderDeno(name: string, source: string): Promise<{ code: number; out: string }> {
  const file = join(dir, name)
  writeFileSync(file, source)
  const args = [
    'run',
    '--no-prompt',
    '--no-lock',
    '--node-modules-dir=manual',
    '--allow-net',
    '--allow-env',
    `--allow-read=${repoRoot}`,
    `--config=${join(repoRoot, 'functions', 'deno.json')}`,
    file,
  ]
  return new Promise((resolve) => {
    execFile(deno, args, { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })
    })
  })
}

test('@slack/web-api does not load in a function without sys access', async () => {
  const run = await runUnderDeno(
    'sdk.ts',
    `import { WebClient } from '@slack/web-api'\nconsole.log('loaded', typeof new WebClient('xoxb-x').chat.startStream)\n`,
  )
  expect(run.code).not.toBe(0)
  expect(run.out).toContain('osRelease')
}, 60_000)

test("Konstruct's Slack client loads in a function and speaks the streaming methods", async () => {
  const client = join(repoRoot, 'shared', 'channels', 'slack', 'web-api.ts')
  const run = await runUnderDeno(
    'own.ts',
    `import { createSlackWebClient } from ${JSON.stringify(`file://${client}`)}\n` +
      `const slack = createSlackWebClient({ token: 'xoxb-x' })\n` +
      `console.log('loaded', typeof slack.startStream, typeof slack.appendStream, typeof slack.stopStream)\n`,
  )
  expect(run.out).toContain('loaded function function function')
  expect(run.code).toBe(0)
}, 60_000)
