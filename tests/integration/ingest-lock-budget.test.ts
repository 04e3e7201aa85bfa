// slack-events' group commit on a native PostgreSQL (PGlite runs one transaction at a time,
// so nothing there ever waits for a lock; bash .ci/native.sh runs it). Slack gives up on an
// ack after 3 s: a message stuck behind a lock on its conversation must fail alone, in time,
// without holding the other tenants' messages of the same call, and without letting a later
// message of its thread overtake it; Slack's last delivery waits for the lock instead. Two
// calls that deadlock on rows outside their order lose one message to Slack's redelivery.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NativePostgres } from '../../local/postgres.ts'
import { nativeDb, startNativeDb } from '../support/stack.ts'

// The demo tenant's Slack workspace of supabase/seed.sql, and a second tenant made here.
const TEAM_A = 'T0KONSTRUCT'
const BOT_A = 'U0KONSTRUCT'
// Unique per run, so a server given as KONSTRUCT_DB=postgres://… can run this again.
const RUN = randomUUID().slice(0, 8).toUpperCase()
const TENANT_B = randomUUID()
const TEAM_B = `T0LOCK${RUN}`

type Answer =
  { ok: true; result: { outcome: string; duplicate?: boolean } } | { ok: false; code: string; message: string }

describe.skipIf(!nativeDb)("slack-events' group commit waiting for locks on a native server", () => {
  let server: NativePostgres
  let owner: pg.Client
  let service: pg.Client
  const clients: pg.Client[] = []

  async function connect(role: string | null): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    if (role) await client.query(`set role ${role}`)
    clients.push(client)
    return client
  }

  /** A Slack message of team A in channel `channel`, thread `thread` (a ts), itself at `ts`. */
  const message = (channel: string, thread: string, ts: string, retryNum = 0) => ({
    team_id: TEAM_A,
    bot_user_id: BOT_A,
    external_id: `${channel}:${ts}`,
    thread_key: `${channel}:${thread}`,
    external_user_id: 'U0LOCKUSER',
    text: `message ${ts}`,
    metadata: retryNum ? { slack_retry_num: retryNum } : {},
  })

  /** A message of team B (the other tenant), a thread of its own at `ts`. */
  const otherTenants = (ts: string, text: string) => ({
    team_id: TEAM_B,
    bot_user_id: 'U0LOCKB',
    external_id: `CB${RUN}:${ts}`,
    thread_key: `CB${RUN}:${ts}`,
    external_user_id: 'U0LOCKUSER',
    text,
  })

  const ingest = async (events: object[]): Promise<Answer[]> =>
    (await service.query('select api.ingest_slack_messages($1) as a', [JSON.stringify(events)])).rows[0].a

  /** Stores a thread's first message, then holds its conversation as a long transaction would. */
  async function lockedThread(channel: string) {
    const [first] = await ingest([message(channel, '100.000001', '100.000001')])
    expect(first).toMatchObject({ ok: true, result: { outcome: 'ingested' } })
    const holder = await connect(null)
    await holder.query('begin')
    await holder.query(`select 1 from app.conversations where thread_key = $1 for update`, [`${channel}:100.000001`])
    let held = true
    const release = async () => {
      if (!held) return
      held = false
      clearTimeout(safety)
      await holder.query('rollback')
    }
    // Without a bound the call would wait for ever: let go after 10 s, so the test fails instead.
    const safety = setTimeout(() => void release(), 10_000)
    return { release, isHeld: () => held }
  }

  const stored = async (externalIds: string[]) =>
    (
      await owner.query(`select m.external_id from app.messages m where m.external_id = any($1) order by m.seq`, [
        externalIds,
      ])
    ).rows.map((r) => r.external_id as string)

  beforeAll(async () => {
    server = await startNativeDb()
    owner = await connect(null)
    await owner.query(`insert into app.tenants (id, name, slug) values ($1, 'Lock Budget B', $2)`, [
      TENANT_B,
      `lock-budget-${RUN.toLowerCase()}`,
    ])
    const installer = await connect('service_role')
    await installer.query(`select api.save_slack_installation($1, $2, 'U0LOCKB', 'xoxb-lock-b')`, [TENANT_B, TEAM_B])
    service = await connect('service_role')
  }, 120_000)

  afterAll(async () => {
    await owner?.query('delete from app.tenants where id = $1', [TENANT_B]).catch(() => {})
    await Promise.all(clients.map((c) => c.end().catch(() => {})))
    await server?.stop()
  })

  it("fails the locked thread's messages, in order and in time for Slack, and stores the other tenant's", async () => {
    const channel = `CLOCK${RUN}`
    const lock = await lockedThread(channel)
    try {
      const started = Date.now()
      const answers = await ingest([
        message(channel, '100.000001', '100.000002'),
        otherTenants('200.000001', "another tenant's question"),
        message(channel, '100.000001', '100.000003'),
      ])
      const elapsed = Date.now() - started
      expect(lock.isHeld()).toBe(true)
      expect(answers[0]).toMatchObject({ ok: false, code: '55P03' })
      expect(answers[1]).toMatchObject({ ok: true, result: { outcome: 'ingested' } })
      // The thread's later message is not tried: it would overtake the first, or wait again.
      expect(answers[2]).toMatchObject({ ok: false, code: '55P03' })
      expect((answers[2] as { message: string }).message).toMatch(/^not tried: an earlier message of its thread/)
      // Slack waits 3 s for the ack: the call answered within it, one lock wait of at most 1 s.
      expect(elapsed).toBeLessThan(3000)
    } finally {
      await lock.release()
    }
    expect(await stored([`${channel}:100.000002`, `${channel}:100.000003`, `CB${RUN}:200.000001`])).toEqual([
      `CB${RUN}:200.000001`,
    ])

    // Slack's redelivery, once the lock is gone, stores both in their order.
    const again = await ingest([
      message(channel, '100.000001', '100.000002', 1),
      message(channel, '100.000001', '100.000003', 1),
    ])
    expect(again).toMatchObject([
      { ok: true, result: { outcome: 'ingested', duplicate: false } },
      { ok: true, result: { outcome: 'ingested', duplicate: false } },
    ])
    expect(await stored([`${channel}:100.000002`, `${channel}:100.000003`])).toEqual([
      `${channel}:100.000002`,
      `${channel}:100.000003`,
    ])
  })

  it('ends near 2 s however many of its threads are locked, and still stores a message nobody holds up', async () => {
    const locks = await Promise.all(Array.from({ length: 8 }, (_, i) => lockedThread(`CMANY${RUN}${i}`)))
    try {
      const started = Date.now()
      const answers = await ingest([
        ...locks.map((_, i) => message(`CMANY${RUN}${i}`, '100.000001', '100.000002')),
        otherTenants('500.000001', 'asked after eight locked threads'),
      ])
      const elapsed = Date.now() - started
      expect(answers.slice(0, 8).map((a) => (a.ok ? 'stored' : a.code))).toEqual(Array(8).fill('55P03'))
      // Sorted by team, so the other tenant's message comes last, after the 2 s are spent.
      expect(answers[8]).toMatchObject({ ok: true, result: { outcome: 'ingested' } })
      // 1 s + 1 s of waits, then 1 ms each: before 20261208130000 each further wait took
      // 100 ms, 2.6 s here, and with twelve locked threads about 3 s, all Slack gives an ack.
      expect(elapsed).toBeLessThan(2500)
    } finally {
      await Promise.all(locks.map((l) => l.release()))
    }
  })

  it("waits for the lock on Slack's last delivery, after which Slack would not send it again", async () => {
    const channel = `CLAST${RUN}`
    const lock = await lockedThread(channel)
    // Released a while after the call started: a bounded wait would have failed by then.
    const releasing = new Promise<void>((resolve) => setTimeout(() => void lock.release().then(resolve), 2500))
    try {
      const [answer] = await ingest([message(channel, '100.000001', '100.000002', 3)])
      expect(lock.isHeld()).toBe(false)
      expect(answer).toMatchObject({ ok: true, result: { outcome: 'ingested', duplicate: false } })
    } finally {
      await releasing
    }
    expect(await stored([`${channel}:100.000002`])).toEqual([`${channel}:100.000002`])
  })

  it('two calls that deadlock on two new senders: one message fails to come again, nothing is lost or doubled', async () => {
    // Call A: sender 2 in its first thread, then sender 1; call B the other way round. Both new
    // to the workspace, so each call creates one sender's identity and then needs the other's,
    // which the other call holds until it commits: rows outside the (team, thread) order.
    const channel = `CDEAD${RUN}`
    const user = (n: number) => `U0DEAD${RUN}${n}`
    const event = (thread: string, sender: number) => ({
      ...message(channel, thread, thread),
      external_user_id: user(sender),
    })
    const callA = [event('300.000001', 2), event('300.000002', 1)]
    const callB = [event('400.000001', 1), event('400.000002', 2)]
    const other = await connect('service_role')
    // Both first messages stop at the reply queue until both have created their sender, so the
    // second messages meet for certain (a share lock lets nobody insert there meanwhile).
    const holder = await connect(null)
    await holder.query('begin')
    await holder.query('lock table app.reply_jobs in share mode')
    const backend = async (c: pg.Client) => (await c.query('select pg_backend_pid() as pid')).rows[0].pid as number
    const [pidA, pidB] = [await backend(service), await backend(other)]
    const started = Date.now()
    const calling = Promise.all([
      service.query('select api.ingest_slack_messages($1) as a', [JSON.stringify(callA)]),
      other.query('select api.ingest_slack_messages($1) as a', [JSON.stringify(callB)]),
    ])
    // Let go as soon as both wait there (their lock waits are bounded at 1 s), not after a guess.
    for (let tries = 0; tries < 80; tries++) {
      const { rows } = await owner.query(
        `select count(*)::int as n from pg_locks
          where pid = any($1) and not granted and relation = 'app.reply_jobs'::regclass`,
        [[pidA, pidB]],
      )
      if (rows[0].n === 2) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await holder.query('rollback')
    const [a, b] = (await calling).map((r) => r.rows[0].a as Answer[])
    const elapsed = Date.now() - started
    // Only a second message can lose (the first ones had nothing to wait for but the queue),
    // with a code slack-events answers 503 to, so Slack delivers it again; in time for Slack.
    expect([a[0], b[0]]).toMatchObject([{ ok: true }, { ok: true }])
    const failed = [a[1]!, b[1]!].filter((x) => !x.ok)
    expect(failed.length).toBeGreaterThanOrEqual(1)
    for (const f of failed) expect(['40P01', '55P03']).toContain((f as { code: string }).code)
    expect(elapsed).toBeLessThan(3000)

    // Slack's redelivery of what failed stores it once; every message is there once, and each
    // sender has one identity in the workspace.
    const redelivered = [a[1]!.ok ? null : callA[1]!, b[1]!.ok ? null : callB[1]!].filter((x) => x !== null)
    const again = await ingest(redelivered.map((e) => ({ ...e, metadata: { slack_retry_num: 1 } })))
    expect(again.every((x) => x.ok && x.result.outcome === 'ingested' && !x.result.duplicate)).toBe(true)
    const ids = [...callA, ...callB].map((e) => e.external_id)
    expect((await stored(ids)).sort()).toEqual([...ids].sort())
    const identities = await owner.query(
      `select external_user_id, count(*)::int as n from app.contact_identities
        where external_user_id = any($1) group by 1 order by 1`,
      [[user(1), user(2)]],
    )
    expect(identities.rows).toEqual([
      { external_user_id: user(1), n: 1 },
      { external_user_id: user(2), n: 1 },
    ])
  })
})
