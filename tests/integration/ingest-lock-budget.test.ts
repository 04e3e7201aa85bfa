// slack-events' group commit on a native PostgreSQL (PGlite runs one transaction at a time,
// so nothing there ever waits for a lock; bash .ci/native.sh runs it). Slack gives up on an
// ack after 3 s: a message stuck behind a lock on its conversation must fail alone, in time,
// and not hold the other tenants' messages of the same call.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NativePostgres } from '../../local/postgres.ts'
import { nativeDb, startNativeDb } from '../support/stack.ts'

// The demo tenant's Slack workspace of supabase/seed.sql, and a second tenant made here.
const TEAM_A = 'T0KONSTRUCT'
const BOT_A = 'U0KONSTRUCT'
const TENANT_B = '50000000-0000-4000-8000-00000000000b'

const event = (team: string, bot: string, channel: string, ts: string, threadTs: string, text: string) => ({
  team_id: team,
  bot_user_id: bot,
  external_id: `${channel}:${ts}`,
  thread_key: `${channel}:${threadTs}`,
  external_user_id: 'U0LOCKUSER',
  text,
})

type Answer = { ok: true; result: { outcome: string; duplicate?: boolean } } | { ok: false; code: string }

describe.skipIf(!nativeDb)("slack-events' group commit waiting for locks on a native server", () => {
  let server: NativePostgres
  const clients: pg.Client[] = []

  async function connect(role: string | null): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    if (role) await client.query(`set role ${role}`)
    clients.push(client)
    return client
  }

  const ingest = async (client: pg.Client, events: object[]): Promise<Answer[]> =>
    (await client.query('select api.ingest_slack_messages($1) as a', [JSON.stringify(events)])).rows[0].a

  beforeAll(async () => {
    server = await startNativeDb()
    const owner = await connect(null)
    await owner.query(`insert into app.tenants (id, name, slug) values ($1, 'Lock Budget B', 'lock-budget-b')`, [
      TENANT_B,
    ])
    await owner.query(`set role service_role`)
    await owner.query(`select api.save_slack_installation($1, 'T0LOCKB', 'U0LOCKB', 'xoxb-lock-b')`, [TENANT_B])
  }, 120_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})))
    await server?.stop()
  })

  it("fails a message whose conversation stays locked, in time for Slack, and stores the other tenant's", async () => {
    const service = await connect('service_role')
    const [first] = await ingest(service, [event(TEAM_A, BOT_A, 'CLOCK', '100.000001', '100.000001', 'first')])
    expect(first).toMatchObject({ ok: true, result: { outcome: 'ingested' } })

    // An admin's long transaction (or another call) holds the thread's conversation.
    const holder = await connect(null)
    await holder.query('begin')
    await holder.query(`select 1 from app.conversations where thread_key = 'CLOCK:100.000001' for update`)
    let held = true
    const released = setTimeout(() => void holder.query('rollback').then(() => (held = false)), 10_000)
    try {
      const started = Date.now()
      const answers = await ingest(service, [
        event(TEAM_A, BOT_A, 'CLOCK', '100.000002', '100.000001', 'a reply in the locked thread'),
        event('T0LOCKB', 'U0LOCKB', 'CLOCKB', '200.000001', '200.000001', "another tenant's question"),
      ])
      const elapsed = Date.now() - started
      expect(held).toBe(true)
      expect(answers[0]).toMatchObject({ ok: false, code: '55P03' })
      expect(answers[1]).toMatchObject({ ok: true, result: { outcome: 'ingested' } })
      // Slack waits 3 s for the ack: the call answered within it, the lock still held.
      expect(elapsed).toBeLessThan(3000)
    } finally {
      clearTimeout(released)
      if (held) await holder.query('rollback')
    }

    const check = await connect(null)
    const stored = await check.query(
      `select external_id from app.messages where external_id in ('CLOCK:100.000002', 'CLOCKB:200.000001') order by 1`,
    )
    expect(stored.rows.map((r) => r.external_id)).toEqual(['CLOCKB:200.000001'])

    // Slack's redelivery, once the lock is gone, stores the message.
    const [again] = await ingest(service, [
      event(TEAM_A, BOT_A, 'CLOCK', '100.000002', '100.000001', 'a reply in the locked thread'),
    ])
    expect(again).toMatchObject({ ok: true, result: { outcome: 'ingested', duplicate: false } })
  })
})
