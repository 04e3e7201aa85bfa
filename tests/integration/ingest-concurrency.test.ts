// One tenant's inbound messages arriving at once, on a native PostgreSQL (PGlite runs one
// transaction at a time, so this only runs with KONSTRUCT_DB set to `native` or a
// postgres:// URL; bash .ci/native.sh runs it). The counters every message adds to (the
// rate-limit window, the month's usage, the dashboard's day) are kept in slots, so an
// ingest never waits for another's commit, and they still equal what the raw rows say.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NativePostgres } from '../../local/postgres.ts'
import { nativeDb, startNativeDb } from '../support/stack.ts'

// The demo tenant and its web chat of supabase/seed.sql.
const TENANT = '10000000-0000-4000-8000-000000000001'
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'

describe.skipIf(!nativeDb)("a tenant's concurrent ingests on a native server", () => {
  let server: NativePostgres
  const clients: pg.Client[] = []

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    await client.query('set role service_role')
    clients.push(client)
    return client
  }

  const ingest = (client: pg.Client, externalId: string, thread: string) =>
    client.query(`select api.ingest_message($1, $2, $3, $4, 'Where is my parcel?') as r`, [
      WEB_CHAT,
      externalId,
      thread,
      `visitor-${thread}`,
    ])

  beforeAll(async () => {
    server = await startNativeDb()
  }, 120_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})))
    await server?.stop()
  })

  it('stores a message while another message of the same tenant is still uncommitted', async () => {
    const [first, second] = [await connect(), await connect()]
    await first.query('begin')
    try {
      await ingest(first, 'slots-open-1', 'slots-open-a')
      // Before the slots, this waited on the rows the first transaction holds until its commit
      // (and here failed after the lock timeout).
      await second.query('begin')
      await second.query(`set local lock_timeout = '5s'`)
      const stored = await ingest(second, 'slots-open-2', 'slots-open-b')
      await second.query('commit')
      expect(stored.rows[0].r.duplicate).toBe(false)
      await first.query('commit')
    } finally {
      await second.query('rollback')
      await first.query('rollback')
    }
  })

  it('keeps a transaction on the slot it took first, when a lower one is freed before it adds again', async () => {
    // An ingest that opens a conversation adds to its day's counter twice (the conversation,
    // then the message): its second addition must not take a second slot.
    const [holder, writer] = [await connect(), await connect()]
    const slot = async (client: pg.Client) =>
      (await client.query(`select app.counter_slot('activity:slot-test') as s`)).rows[0].s as number
    await holder.query('begin')
    await writer.query('begin')
    try {
      expect(await slot(holder)).toBe(0)
      expect(await slot(writer)).toBe(1)
      await holder.query('commit')
      expect(await slot(writer)).toBe(1)
      // Another key of the same transaction has its own slot.
      expect((await writer.query(`select app.counter_slot('activity:other-key') as s`)).rows[0].s).toBe(0)
      await writer.query('commit')
    } finally {
      await holder.query('rollback')
      await writer.query('rollback')
    }
  })

  it('keeps the counters equal to the raw rows under four concurrent writers, each retried message counted once', async () => {
    const writers = await Promise.all([connect(), connect(), connect(), connect()])
    const perWriter = 15
    // Writer w sends its messages; writer (w + 1) % 4 retries the same ones at the same time.
    await Promise.all(
      writers.map(async (client, w) => {
        for (let i = 0; i < perWriter; i++) {
          await ingest(client, `slots-${w}-${i}`, `slots-${w}-${i}`)
          const other = (w + 3) % 4
          await ingest(client, `slots-${other}-${i}`, `slots-${other}-${i}`)
        }
      }),
    )
    const check = await connect()
    await check.query('reset role')
    const one = async (sql: string) => (await check.query(sql, [TENANT])).rows[0]
    const inbound = await one(`select count(*)::int as n from app.messages m
      where m.tenant_id = $1 and m.direction = 'in' and m.external_id like 'slots-%'`)
    expect(inbound.n).toBe(4 * perWriter + 2)

    // The month: sum of the slots == the raw rows.
    const month = await one(`select (select sum(u.messages)::int from app.tenant_usage u
        where u.tenant_id = $1 and u.period_start = app.usage_period(now())) as counted,
      (select h.messages::int from app.usage_from_history($1) h
        where h.agent_id is null and h.period_start = app.usage_period(now())) as recounted`)
    expect(month.counted).toBe(month.recounted)

    // The dashboard's day: messages in and conversations started today.
    const day = await one(`select
      (select sum(d.messages_in)::int from app.activity_days d where d.tenant_id = $1 and d.day = app.utc_day(now())) as counted_in,
      (select count(*)::int from app.messages m join app.conversations c on c.id = m.conversation_id
        where m.tenant_id = $1 and m.author_kind = 'contact' and not c.is_test and app.utc_day(m.created_at) = app.utc_day(now())) as raw_in,
      (select sum(d.conversations)::int from app.activity_days d where d.tenant_id = $1 and d.day = app.utc_day(now())) as counted_conversations,
      (select count(*)::int from app.conversations c
        where c.tenant_id = $1 and not c.is_test and app.utc_day(c.created_at) = app.utc_day(now())) as raw_conversations`)
    expect(day.counted_in).toBe(day.raw_in)
    expect(day.counted_conversations).toBe(day.raw_conversations)

    // The rate limit's windows: every stored message counted once, nothing for a retry.
    const windows = await one(`select sum(w.messages)::int as n from app.inbound_rate_windows w
      where w.tenant_id = $1 and w.scope = 'tenant'`)
    expect(windows.n).toBe(4 * perWriter + 2)

    // Never more slots than writers at once: they do not grow with the messages.
    const slots = await one(`select greatest(
      (select max(u.slot) from app.tenant_usage u where u.tenant_id = $1),
      (select max(d.slot) from app.activity_days d where d.tenant_id = $1),
      (select max(w.slot) from app.inbound_rate_windows w where w.tenant_id = $1))::int as top`)
    expect(slots.top).toBeLessThan(4)
  })
})
