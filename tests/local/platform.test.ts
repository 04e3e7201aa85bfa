// pg_net after commit, pg_cron on schedule, and a file-backed database that
// survives a restart: the platform pieces the product's triggers rely on.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, startTestStack, type TestStack } from '../support/stack.ts'
import { matchesCron } from '../../local/cron.ts'
import { until } from '../support/until.ts'

interface Received {
  method: string
  url: string
  body: string
  headers: IncomingMessage['headers']
}

async function startReceiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers })
      res.writeHead(202, { 'content-type': 'application/json' })
      res.end('{"accepted":true}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

describe('pg_net and pg_cron', () => {
  let stack: TestStack
  let receiver: Awaited<ReturnType<typeof startReceiver>>

  beforeAll(async () => {
    stack = await startTestStack()
    receiver = await startReceiver()
    await stack.db.asOwner((tx) =>
      tx.exec(`
        create schema test_platform;
        create table test_platform.events (id serial primary key, note text not null);
        create function test_platform.notify() returns trigger language plpgsql as $$
        begin
          perform net.http_post(
            url := '${receiver.url}/hook',
            body := jsonb_build_object('id', new.id, 'note', new.note),
            headers := '{"Content-Type": "application/json", "X-Source": "trigger"}'::jsonb
          );
          return new;
        end $$;
        create trigger events_notify after insert on test_platform.events
          for each row execute function test_platform.notify();
        create table test_platform.ticks (at timestamptz not null default now());
      `),
    )
  }, 120_000)

  afterAll(async () => {
    await stack?.close()
    receiver?.server.close()
  })

  it('sends a trigger’s net.http_post after the transaction commits', async () => {
    await stack.db.asOwner((tx) => tx.query(`insert into test_platform.events (note) values ('committed')`))
    const hit = await until(() => receiver.received.find((r) => r.body.includes('committed')))
    expect(hit.method).toBe('POST')
    expect(hit.url).toBe('/hook')
    expect(hit.headers['x-source']).toBe('trigger')
    expect(JSON.parse(hit.body)).toMatchObject({ note: 'committed' })
    const response = await until(async () => {
      const { rows } = await stack.db.pg.query<{ status_code: number; content: string }>(
        'select status_code, content from net._http_response',
      )
      return rows[0]
    })
    expect(response).toEqual({ status_code: 202, content: '{"accepted":true}' })
  })

  it('reaches an edge function under Deno after commit', async () => {
    const { rows } = await stack.db.asOwner((tx) =>
      tx.query<{ id: number }>(`select net.http_get($1) as id`, [`${stack.url}/functions/v1/health`]),
    )
    const response = await until(
      async () => {
        const r = await stack.db.pg.query<{ status_code: number; content: string }>(
          'select status_code, content from net._http_response where id = $1',
          [rows[0].id],
        )
        return r.rows[0]
      },
      'the health function to answer',
      20_000,
    )
    expect(response.status_code).toBe(200)
    expect(JSON.parse(response.content)).toMatchObject({ status: 'ok', function: 'health' })
  })

  it('never sends the request of a rolled-back transaction', async () => {
    await expect(
      stack.db.asOwner(async (tx) => {
        await tx.query(`insert into test_platform.events (note) values ('rolled back')`)
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    await stack.db.asOwner((tx) => tx.query(`insert into test_platform.events (note) values ('after the rollback')`))
    await until(() => receiver.received.find((r) => r.body.includes('after the rollback')))
    expect(receiver.received.some((r) => r.body.includes('rolled back'))).toBe(false)
    const { rows } = await stack.db.pg.query('select * from net.http_request_queue')
    expect(rows).toEqual([])
  })

  it('records a failed request instead of losing it', async () => {
    const { rows } = await stack.db.asOwner((tx) =>
      tx.query<{ id: number }>(`select net.http_get('http://127.0.0.1:9/unreachable') as id`),
    )
    const failure = await until(async () => {
      const r = await stack.db.pg.query<{ status_code: number | null; error_msg: string | null }>(
        'select status_code, error_msg from net._http_response where id = $1',
        [rows[0].id],
      )
      return r.rows[0]
    })
    expect(failure.status_code).toBeNull()
    expect(failure.error_msg).toBeTruthy()
  })

  it('runs a cron job on its schedule and records the run', async () => {
    await stack.db.asOwner((tx) =>
      tx.query(`select cron.schedule('tick', '1 seconds', 'insert into test_platform.ticks default values')`),
    )
    await until(async () => {
      const { rows } = await stack.db.pg.query<{ n: number }>('select count(*)::int as n from test_platform.ticks')
      return rows[0].n >= 2 ? true : undefined
    })
    const { rows } = await stack.db.pg.query<{ status: string }>(
      `select d.status from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'tick'`,
    )
    expect(rows.length).toBeGreaterThanOrEqual(2)
    expect(rows.every((r) => r.status === 'succeeded')).toBe(true)
    await stack.db.asOwner((tx) => tx.query(`select cron.unschedule('tick')`))
  })

  it("refuses what pg_cron refuses, with pg_cron's error (more cases: supabase/tests/platform/upstream_parity.test.sql)", async () => {
    for (const schedule of ['every tuesday', '60 seconds']) {
      await expect(
        stack.db.asOwner((tx) => tx.query(`select cron.schedule('bad', $1, 'select 1')`, [schedule])),
      ).rejects.toMatchObject({
        message: `invalid schedule: ${schedule}`,
        code: '22023',
        hint: "Use cron format (e.g. 5 4 * * *), or interval format '[1-59] seconds'",
      })
    }
  })
})

describe('cron expressions', () => {
  const at = new Date('2026-11-26T09:30:00Z') // a Thursday
  it.each([
    ['* * * * *', true],
    ['30 9 * * *', true],
    ['*/15 * * * *', true],
    ['*/7 * * * *', false],
    ['0-29 * * * *', false],
    ['30 9 26 11 *', true],
    ['30 9 * * 4', true],
    ['30 9 * * 1-3', false],
    ['30 9 1 * 4', true],
    ['30 9 * * 0', false],
    ['30 9 * nov thu', true],
    ['30 9 * jan-oct *', false],
    ['30 9 * * mon-wed', false],
    ['30 9 $ * *', false],
    ['@hourly', false],
    ['@daily', false],
    ['30 9 * * * ignored', true],
  ])('%s at Thursday 09:30 UTC → %s', (expression, expected) => {
    expect(matchesCron(expression, at)).toBe(expected)
  })
  it('runs `$` on the last day of the month and @daily at midnight', () => {
    expect(matchesCron('0 0 $ * *', new Date('2026-11-30T00:00:00Z'))).toBe(true)
    expect(matchesCron('0 0 $ * *', new Date('2026-02-28T00:00:00Z'))).toBe(true)
    expect(matchesCron('@daily', new Date('2026-11-30T00:00:00Z'))).toBe(true)
  })
  it('treats 7 as Sunday', () => {
    expect(matchesCron('0 0 * * 7', new Date('2026-11-29T00:00:00Z'))).toBe(true)
  })
})

describe('a file-backed stack', () => {
  it('keeps its data, and applies migrations and the seed once, across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'konstruct-restart-'))
    try {
      const first = await startTestStack({ dataDir })
      await first.db.asOwner((tx) =>
        tx.exec(`create table public.kept (note text); insert into public.kept values ('still here');`),
      )
      const migrations = await first.db.pg.query<{ n: number }>(
        'select count(*)::int as n from supabase_migrations.schema_migrations',
      )
      await first.close()

      const second = await startTestStack({ dataDir })
      const { rows } = await second.db.pg.query<{ note: string }>('select note from public.kept')
      expect(rows).toEqual([{ note: 'still here' }])
      const again = await second.db.pg.query<{ n: number }>(
        'select count(*)::int as n from supabase_migrations.schema_migrations',
      )
      expect(again.rows[0].n).toBe(migrations.rows[0].n)
      const seeds = await second.db.pg.query<{ n: number }>(
        'select count(*)::int as n from supabase_migrations.seed_files',
      )
      expect(seeds.rows[0].n).toBe(existsSync(join(repoRoot, 'supabase', 'seed.sql')) ? 1 : 0)
      await second.close()
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
