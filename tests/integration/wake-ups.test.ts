// How the database wakes the agent worker, end to end on the local stack: an ingested
// message's wake-up goes out through pg_net after commit, signed with the Vault worker
// secret, and the worker answers; pg_net's queue row carries no secret; a forged, stale
// or unsigned wake-up is refused with an opaque 401 and the job stays queued; a database
// whose secret does not match the function's gets 401 on record (not silence). Wake-ups
// are coalesced: messages queued before a worker begins share one, a lost one is sent
// again after 10 seconds, and a message committed while a worker begins is in its claim
// (on a native server the race itself is played: the worker waits for the enqueue).
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DEV_WORKER_SECRET } from '../../local/dev-secrets.ts'
import { signWake } from '../../shared/wake/verify-wake.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'
import { testWorkerEnv } from '../support/worker-env.ts'

const WEB_CHAT = '30000000-0000-4000-8000-000000000001'

let stack: TestStack
let service: SupabaseClient
let counter = 0

const sql = async <T = Record<string, unknown>>(query: string, params: unknown[] = []) =>
  (await stack.db.pg.query<T>(query, params)).rows

async function ingest(text: string) {
  const n = ++counter
  const { data, error } = await service.rpc('ingest_message', {
    connection_id: WEB_CHAT,
    external_id: `wake-${n}-${Date.now()}`,
    thread_key: `wake-visitor-${n}`,
    external_user_id: `wake-visitor-${n}`,
    text,
  })
  if (error) throw new Error(`ingest failed: ${error.message}`)
  return data as { message_id: string; conversation_id: string; job_id: number }
}

const replyOf = (conversationId: string) =>
  sql(`select 1 from app.messages where conversation_id = $1 and direction = 'out' and delivery_status = 'sent'`, [
    conversationId,
  ])
const queued = async (jobId: number) =>
  (await sql(`select 1 from pgmq.q_agent_jobs where msg_id = $1`, [jobId])).length === 1

const wakeWorker = (headers: Record<string, string>, body: string) =>
  fetch(`${stack.url}/functions/v1/agent-worker`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  })

beforeAll(async () => {
  // No model anywhere: the worker answers in its offline mode, which is enough here.
  stack = await startTestStack({ functionEnv: testWorkerEnv })
  service = stack.serviceClient()
  // Only pg_net wakes the worker in this file: no cron safety net.
  await stack.db.asOwner((tx) => tx.query(`select cron.unschedule('konstruct-agent-worker-safety-net')`))
}, 90_000)

afterAll(async () => {
  await stack?.close()
})

test('a message wakes the worker through pg_net after commit, signed, with no secret in the queued request', async () => {
  // Ingest as the webchat function would (service_role), and look at pg_net's queue in
  // the same transaction, as any role could read it there.
  const { conversationId, queuedRows } = await stack.db.asRequest({ role: 'service_role' }, async (tx) => {
    const ingested = await tx.query<{ result: { conversation_id: string } }>(
      `select api.ingest_message($1, $2, 'wake-visitor-0', 'wake-visitor-0', 'What are your opening hours?') as result`,
      [WEB_CHAT, `wake-0-${Date.now()}`],
    )
    const rows = await tx.query<{ url: string; headers: Record<string, string>; body: string }>(
      `select url, headers, convert_from(body, 'UTF8') as body from net.http_request_queue`,
    )
    return { conversationId: ingested.rows[0]!.result.conversation_id, queuedRows: rows.rows }
  })
  expect(queuedRows).toHaveLength(1)
  const [request] = queuedRows
  expect(request!.url).toBe(`${stack.url}/functions/v1/agent-worker`)
  expect(request!.headers['x-konstruct-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/)
  expect(JSON.stringify(request)).not.toContain(DEV_WORKER_SECRET)
  expect(JSON.stringify(request)).not.toContain(stack.keys.serviceRoleKey)
  expect(request!.headers).not.toHaveProperty('Authorization')

  // Sent once committed: the worker answers the visitor, and its 200 is on record.
  await until(async () => (await replyOf(conversationId)).length > 0, 'the reply')
  await until(
    async () =>
      (
        await sql<{ status_code: number }>(`select status_code from net._http_response order by created desc limit 1`)
      )[0]?.status_code === 200,
    "the worker's 200 on record",
  )
}, 60_000)

test('forged, stale and unsigned wake-ups are refused and the job stays queued', async () => {
  await setWakeUps(stack, false)
  try {
    const { job_id } = await ingest('Is anyone there?')
    const body = JSON.stringify({ queue: 'agent_jobs', reason: 'forged' })
    const attempts = {
      forged: { 'x-konstruct-signature': await signWake('a-guessed-secret-of-the-right-length!!', body, new Date()) },
      stale: { 'x-konstruct-signature': await signWake(DEV_WORKER_SECRET, body, new Date(Date.now() - 10 * 60_000)) },
      'the secret itself as a bearer': { authorization: `Bearer ${DEV_WORKER_SECRET}` },
      unsigned: {},
    }
    for (const [what, headers] of Object.entries(attempts)) {
      const res = await wakeWorker(headers, body)
      expect({ what, status: res.status, body: await res.json() }).toEqual({
        what,
        status: 401,
        body: { error: 'unauthorized' },
      })
    }
    expect(await queued(job_id)).toBe(true)

    // A fresh signature made with the worker secret wakes it.
    const res = await wakeWorker({ 'x-konstruct-signature': await signWake(DEV_WORKER_SECRET, body, new Date()) }, body)
    expect(res.status).toBe(200)
    await until(async () => !(await queued(job_id)), 'the job done')
  } finally {
    await setWakeUps(stack, true)
  }
}, 60_000)

test('a database configured with another secret gets 401 on record, and the job waits', async () => {
  await stack.db.asOwner((tx) =>
    tx.query('select app.configure_functions($1, $2)', [`${stack.url}/functions/v1`, 'x'.repeat(40)]),
  )
  try {
    const { job_id } = await ingest('Hello?')
    await until(
      async () =>
        (
          await sql<{ status_code: number }>(`select status_code from net._http_response order by created desc limit 1`)
        )[0]?.status_code === 401,
      'the refused wake-up on record',
    )
    expect(await queued(job_id)).toBe(true)
  } finally {
    await setWakeUps(stack, true)
  }
}, 60_000)

describe('a burst is woken once per worker start, and no message waits for a wake-up that never comes', () => {
  // Wake-ups go to a closed port here, so that no worker begins unless the test says so.
  const NOWHERE = 'http://127.0.0.1:9/functions/v1'
  const TEST_KIND = 'wake_epoch_test'

  /** Queues a job in a transaction of its own and says whether that transaction queued a wake-up. */
  async function enqueueWakes(note: string): Promise<boolean> {
    return stack.db.asOwner(async (tx) => {
      const before = await tx.query<{ id: string | null }>(`select max(id)::text as id from net.http_request_queue`)
      await tx.query(`select app.enqueue_job('agent_jobs', $1::jsonb)`, [
        JSON.stringify({ kind: TEST_KIND, tenant_id: '10000000-0000-4000-8000-000000000001', note }),
      ])
      const after = await tx.query<{ n: number }>(
        `select count(*)::int as n from net.http_request_queue where id > coalesce($1::bigint, 0) and url like '%/agent-worker'`,
        [before.rows[0]!.id],
      )
      return after.rows[0]!.n > 0
    })
  }

  /** A worker beginning: its first claim (as the executor makes it), as service_role. */
  const beginWorker = () =>
    stack.db.asRequest({ role: 'service_role' }, async (tx) => {
      const claimed = await tx.query<{ job: { note: string } }>(
        `select job from api.claim_jobs_with_context('agent_jobs', 50, 30, null, true)`,
      )
      return claimed.rows.map((row) => row.job.note)
    })

  beforeAll(async () => {
    await stack.db.asOwner((tx) => tx.query('select app.configure_functions($1, $2)', [NOWHERE, DEV_WORKER_SECRET]))
  })

  afterAll(async () => {
    await sql(`delete from pgmq.q_agent_jobs where message ->> 'kind' = $1`, [TEST_KIND])
    await setWakeUps(stack, true)
  })

  test('on a fresh deployment, the message after the first worker began wakes a worker of its own', async () => {
    await beginWorker() // takes what earlier tests left queued
    // As the migrations leave it: the epoch sequence never called, no wake-up sent yet.
    await stack.db.asOwner(async (tx) => {
      await tx.query('alter sequence app.agent_jobs_wake_epoch restart')
      await tx.query(`update app.worker_wakes set woken_epoch = null, woken_at = null where queue_name = 'agent_jobs'`)
    })
    expect(await enqueueWakes('first')).toBe(true)
    expect(await beginWorker()).toEqual(['first'])
    expect(await enqueueWakes('second')).toBe(true)
    expect(await beginWorker()).toEqual(['second'])
  })

  test('messages queued before a worker begins share one wake-up; the worker sees them all; the next epoch wakes again', async () => {
    await beginWorker() // whatever an earlier test left: a fresh epoch
    expect(await enqueueWakes('burst-1')).toBe(true)
    expect(await enqueueWakes('burst-2')).toBe(false)
    expect(await enqueueWakes('burst-3')).toBe(false)

    expect((await beginWorker()).sort()).toEqual(['burst-1', 'burst-2', 'burst-3'])
    // Queued after the worker began: a wake-up of its own.
    expect(await enqueueWakes('after-begin')).toBe(true)
    expect(await enqueueWakes('after-begin-2')).toBe(false)
    expect((await beginWorker()).sort()).toEqual(['after-begin', 'after-begin-2'])
  })

  test('a wake-up that began no worker within 10 seconds is sent again', async () => {
    await beginWorker()
    expect(await enqueueWakes('lost-1')).toBe(true)
    expect(await enqueueWakes('lost-2')).toBe(false)
    // As if 11 seconds went by with the request lost (the function down, a refused signature).
    await sql(`update app.worker_wakes set woken_at = woken_at - interval '11 seconds' where queue_name = 'agent_jobs'`)
    expect(await enqueueWakes('lost-3')).toBe(true)
    expect((await beginWorker()).sort()).toEqual(['lost-1', 'lost-2', 'lost-3'])
  })

  test('a message committed while a worker begins is in that worker’s claim', async () => {
    await beginWorker()
    expect(await enqueueWakes('race-0')).toBe(true)
    let claim: Promise<string[]> | undefined
    await stack.db.asRequest({ role: 'service_role' }, async (tx) => {
      // An enqueue in the wake-up's epoch: it sends none, relying on the worker to come...
      const before = await tx.query<{ id: string | null }>(`select max(id)::text as id from net.http_request_queue`)
      await tx.query(`select app.enqueue_job('agent_jobs', $1::jsonb)`, [
        JSON.stringify({ kind: TEST_KIND, tenant_id: '10000000-0000-4000-8000-000000000001', note: 'race-1' }),
      ])
      const queued = await tx.query<{ n: number }>(
        `select count(*)::int as n from net.http_request_queue where id > coalesce($1::bigint, 0)`,
        [before.rows[0]!.id],
      )
      expect(queued.rows[0]!.n).toBe(0)
      // ...which begins now, before this transaction commits. On a native server its bump of
      // the epoch waits for this transaction (PGlite runs one transaction at a time anyway).
      claim = beginWorker()
      if (stack.db.native) {
        await until(
          async () =>
            (
              await sql<{ n: number }>(
                `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`,
              )
            )[0]!.n > 0,
          'the worker waiting for the enqueue to commit',
        )
      }
    })
    // Committed: the worker's first claim holds the message.
    expect((await claim!).sort()).toEqual(['race-0', 'race-1'])
  })
})
