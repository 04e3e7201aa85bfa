// docs/DEPLOY.md, followed as far as it can be offline: its configure step's SQL, as
// written, on a freshly migrated database (Vault secrets stored, the pg_cron jobs there,
// a message's wake-up then addressed to the project and signed with the secret, and no
// secret in pg_net's queue), and every Supabase CLI command it names exists, with its
// flags, in the CLI the repository pins.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { verifyWake } from '../../shared/wake/verify-wake.ts'
import { repoRoot, startTestStack, type TestStack } from '../support/stack.ts'

const page = readFileSync(join(repoRoot, 'docs', 'DEPLOY.md'), 'utf8')
const section = (heading: string) => {
  const start = page.indexOf(heading)
  if (start < 0) throw new Error(`DEPLOY.md has no "${heading}"`)
  const next = page.indexOf('\n#', start + heading.length)
  return page.slice(start, next < 0 ? undefined : next)
}
const blocks = (text: string, lang: string) =>
  [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!)

let stack: TestStack
const secret = randomBytes(32).toString('hex')

beforeAll(async () => {
  stack = await startTestStack()
}, 90_000)

afterAll(async () => {
  await stack?.close()
})

describe('docs/DEPLOY.md', () => {
  test('the configure step, as written, stores the Vault secrets and shows the cron jobs', async () => {
    const [sql] = blocks(section('### 1.4 The configure step'), 'sql')
    expect(sql).toContain('app.configure_functions(')
    const filled = sql!.replaceAll('<project-ref>', 'deploytest').replaceAll('<KONSTRUCT_WORKER_SECRET>', secret)
    const results = await stack.db.asOwner((tx) => tx.exec(filled))
    const rows = results.map((r) => r.rows)
    expect(rows[1]).toEqual([{ name: 'konstruct_functions_url' }, { name: 'konstruct_worker_secret' }])
    expect(rows[2]).toEqual([
      { jobname: 'konstruct-agent-worker-safety-net', schedule: '30 seconds' },
      { jobname: 'konstruct-stripe-meter', schedule: '* * * * *' },
    ])
  })

  test('after it, a message wakes agent-worker on the project, signed, with no secret in the queue', async () => {
    const queued = await stack.db.asRequest({ role: 'service_role' }, async (tx) => {
      await tx.query(
        `select api.ingest_message('30000000-0000-4000-8000-000000000001', $1, 'deploy-visitor', 'deploy-visitor', 'Hello')`,
        [`deploy-${Date.now()}`],
      )
      const { rows } = await tx.query<{ url: string; headers: Record<string, string>; body: string }>(
        `select url, headers, convert_from(body, 'UTF8') as body from net.http_request_queue`,
      )
      // Not sent: deploytest.supabase.co is not this machine.
      await tx.exec('delete from net.http_request_queue')
      return rows
    })
    expect(queued).toHaveLength(1)
    expect(queued[0]!.url).toBe('https://deploytest.supabase.co/functions/v1/agent-worker')
    expect(JSON.stringify(queued[0])).not.toContain(secret)
    expect(await verifyWake(secret, queued[0]!.body, queued[0]!.headers['x-konstruct-signature'], new Date())).toEqual({
      ok: true,
    })
  })

  test("the supabase start variant's configure step runs too", async () => {
    const [sql] = blocks(section('## 2. Supabase CLI with Docker'), 'sql')
    await stack.db.asOwner((tx) => tx.exec(sql!.replaceAll('<KONSTRUCT_WORKER_SECRET>', secret)))
    const { rows } = await stack.db.pg.query<{ url: string }>(
      `select decrypted_secret as url from vault.decrypted_secrets where name = 'konstruct_functions_url'`,
    )
    expect(rows[0]!.url).toBe('http://host.docker.internal:54321/functions/v1')
  })

  test('every Supabase CLI command it names exists with those flags in the pinned CLI', () => {
    const commands = blocks(page, 'sh')
      .flatMap((block) => block.split('\n'))
      .map((line) => /npx supabase ([a-z]+(?: [a-z]+)?)((?: --[a-z-]+)*)/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
    expect(commands.map((m) => m[1])).toEqual(
      expect.arrayContaining(['link', 'db push', 'secrets set', 'functions deploy', 'start', 'functions serve']),
    )
    const flagsOf = new Map<string, Set<string>>()
    for (const [, command, flags] of commands) {
      const seen = flagsOf.get(command!) ?? new Set<string>()
      for (const flag of flags!.trim().split(/\s+/).filter(Boolean)) seen.add(flag)
      flagsOf.set(command!, seen)
    }
    for (const [command, flags] of flagsOf) {
      const help = execFileSync(join(repoRoot, 'node_modules', '.bin', 'supabase'), [...command.split(' '), '--help'], {
        cwd: repoRoot,
        encoding: 'utf8',
      })
      expect(help, command).toContain(`supabase ${command}`)
      for (const flag of flags) expect(help, `${command} ${flag}`).toContain(flag)
    }
  }, 300_000)
})
