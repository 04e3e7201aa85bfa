// The agent worker end to end on the local stack: a message ingested through the
// service api is enqueued, pg_net wakes functions/agent-worker (the real function under
// Deno), which answers with the fake OpenAI server, records reply, usage and audit, and
// delivers to the channel (fake Slack and WhatsApp). Retries go through the visibility
// timeout and the pg_cron safety net (every second here); the last attempt dead-letters.
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { startFakeWhatsApp, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { setWakeUps as setStackWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'
import { testWorkerEnv } from '../support/worker-env.ts'

const TENANT = '10000000-0000-4000-8000-000000000001'
const AGENT = '20000000-0000-4000-8000-000000000001'
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'
const SLACK = '30000000-0000-4000-8000-000000000002'
const WHATSAPP = '30000000-0000-4000-8000-000000000003'

let stack: TestStack
let fake: FakeOpenAI
let slack: FakeSlack
let whatsapp: FakeWhatsApp
let service: SupabaseClient
let admin: SupabaseClient
let counter = 0

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  const result = await stack.db.pg.query<T>(query, params)
  return result.rows
}

const setWakeUps = (enabled: boolean) => setStackWakeUps(stack, enabled)

async function ingest(
  text: string,
  options: { connection?: string; thread?: string; user?: string; context?: Record<string, unknown> } = {},
) {
  const n = ++counter
  const { data, error } = await service.rpc('ingest_message', {
    connection_id: options.connection ?? WEB_CHAT,
    external_id: `ext-${n}-${Date.now()}`,
    thread_key: options.thread ?? `visitor-${n}`,
    external_user_id: options.user ?? `visitor-${n}`,
    text,
    user_display_name: `Visitor ${n}`,
    channel_context: options.context ?? {},
  })
  if (error) throw new Error(`ingest failed: ${error.message}`)
  return data as { message_id: string; conversation_id: string; job_id: number | null; enqueued: boolean }
}

interface Row {
  id: string
  author_kind: string
  text: string
  delivery_status: string
  external_id: string | null
  metadata: Record<string, any>
}

const outbound = (conversationId: string) =>
  sql<Row>(
    `select id, author_kind, text, delivery_status, external_id, metadata from app.messages
     where conversation_id = $1 and direction = 'out' order by seq`,
    [conversationId],
  )

const promptsMentioning = (needle: string) =>
  fake.chatRequests().filter((body) => JSON.stringify(body.messages).includes(needle))

beforeAll(async () => {
  fake = await startFakeOpenAI()
  slack = await startFakeSlack()
  whatsapp = await startFakeWhatsApp()
  stack = await startTestStack({
    functionEnv: {
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test-platform',
      SLACK_API_URL: slack.url,
      WHATSAPP_API_URL: whatsapp.url,
      ...testWorkerEnv,
    },
  })
  service = stack.serviceClient()
  admin = stack.anonClient()
  const { error } = await admin.auth.signInWithPassword({ email: 'admin@konstruct.local', password: 'konstruct-demo' })
  if (error) throw error
  await stack.db.asOwner(async (tx) => {
    // The stack ran the deploy step (app.configure_functions) when it started.
    await tx.query(`select app.schedule_worker_safety_net('1 seconds')`)
  })
  await setWakeUps(true)
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
  await slack?.close()
  await whatsapp?.close()
})

describe('the agent worker', () => {
  test('an ingested message is answered through pg_net: reply recorded, visible via api, metered', async () => {
    const started = fake.chatRequests().length
    const { conversation_id, message_id } = await ingest('How do refunds work for my order?')
    const [reply] = await until(async () => {
      const rows = await outbound(conversation_id)
      return rows.length && rows[0]!.delivery_status === 'sent' ? rows : undefined
    }, 'the agent reply')
    expect(reply!.author_kind).toBe('agent')
    expect(reply!.text).toBe('Fake reply to: How do refunds work for my order?')
    expect(fake.chatRequests().length).toBe(started + 1)

    // The prompt: persona, the tenant's knowledge, the user's message, the platform key.
    const prompt = promptsMentioning('How do refunds work for my order?').at(-1)
    const system = prompt.messages[0].content as string
    expect(system).toContain('You are Ava')
    expect(system).toContain('<knowledge>')
    expect(system).toContain('full refund within 30 days')
    expect(prompt.model).toBe('gpt-4o-mini')
    expect(prompt.stream).toBe(true)
    const request = fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!
    expect(request.headers['authorization']).toBe('Bearer sk-test-platform')

    // Visible to the tenant's admin through the api.
    const { data: page, error } = await admin.rpc('list_messages', { conversation_id })
    expect(error).toBeNull()
    expect((page as Array<{ id: string }>).map((m) => m.id)).toContain(reply!.id)

    // Metered with tokens and cost; the job is gone; the model call is audited.
    const usage = await sql<{ input_tokens: string; output_tokens: string; cost_usd: string; agent_id: string }>(
      `select input_tokens, output_tokens, cost_usd, agent_id from app.usage_events where conversation_id = $1`,
      [conversation_id],
    )
    expect(usage).toHaveLength(1)
    expect(Number(usage[0]!.input_tokens)).toBeGreaterThan(0)
    expect(Number(usage[0]!.output_tokens)).toBeGreaterThan(0)
    expect(Number(usage[0]!.cost_usd)).toBeGreaterThan(0)
    expect(usage[0]!.agent_id).toBe(AGENT)
    const jobs = await sql(`select 1 from pgmq.q_agent_jobs where message ->> 'message_id' = $1`, [message_id])
    expect(jobs).toHaveLength(0)
    const audits = await sql(`select 1 from app.audit_log where action = 'agent.model_call' and entity_id = $1`, [
      conversation_id,
    ])
    expect(audits).toHaveLength(1)
  })

  test('a model that fails twice is retried through the visibility timeout and answers once', async () => {
    fake.failNext(2, { status: 500 })
    const { conversation_id } = await ingest('Do you ship to Portugal?')
    await until(async () => (await outbound(conversation_id)).find((m) => m.delivery_status === 'sent'), 'the reply')
    // Give a stray duplicate a chance to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const replies = await outbound(conversation_id)
    expect(replies.map((m) => [m.author_kind, m.text])).toEqual([['agent', 'Fake reply to: Do you ship to Portugal?']])
    expect(promptsMentioning('Do you ship to Portugal?')).toHaveLength(3)
    const failures = await sql(
      `select details from app.audit_log where action = 'agent.model_call_failed' and entity_id = $1`,
      [conversation_id],
    )
    expect(failures).toHaveLength(2)
    const usage = await sql(`select 1 from app.usage_events where conversation_id = $1`, [conversation_id])
    expect(usage).toHaveLength(1)
  })

  test('a model that keeps failing ends in the dead-letter queue with an apology and an alert', async () => {
    fake.respondWith(() => ({ status: 500 }))
    try {
      const { conversation_id, message_id } = await ingest('Where is my parcel?')
      const apology = await until(
        async () =>
          (await outbound(conversation_id)).find((m) => m.author_kind === 'system' && m.delivery_status === 'sent'),
        'the apology',
      )
      expect(apology.text).toMatch(/^Sorry, I'm having trouble answering right now/)
      expect((await outbound(conversation_id)).filter((m) => m.author_kind === 'agent')).toHaveLength(0)
      expect(promptsMentioning('Where is my parcel?')).toHaveLength(3)

      const archived = await sql<{ read_ct: number }>(
        `select read_ct from pgmq.a_agent_jobs where message ->> 'message_id' = $1`,
        [message_id],
      )
      expect(archived).toHaveLength(1)
      expect(archived[0]!.read_ct).toBe(3)
      const alerts = await sql<{ details: Record<string, unknown> }>(
        `select details from app.audit_log where action = 'alert.job_dead_lettered' and entity_id = $1`,
        [conversation_id],
      )
      expect(alerts).toHaveLength(1)
      expect(alerts[0]!.details).toMatchObject({ kind: 'reply', message_id, attempts: 3 })
      // Broadcast live to the tenant's private topic for the portal.
      const live = await sql(
        `select 1 from realtime.messages where event = 'alert' and topic = $1 and payload ->> 'entity_id' = $2`,
        [`tenant:${TENANT}`, conversation_id],
      )
      expect(live.length).toBeGreaterThan(0)
    } finally {
      fake.respondWith(null)
    }
  })

  test('a request for a human hands off without a model call and alerts the admins', async () => {
    const before = fake.chatRequests().length
    const { conversation_id } = await ingest('Can I talk to a real human please?')
    const reply = await until(
      async () => (await outbound(conversation_id)).find((m) => m.delivery_status === 'sent'),
      'the hand-off reply',
    )
    expect(reply.text).toMatch(/bringing in a human colleague/)
    expect(reply.metadata.escalation).toMatchObject({ source: 'user_request' })
    const [conversation] = await sql<{ status: string; escalation_reason: string }>(
      `select status, escalation_reason from app.conversations where id = $1`,
      [conversation_id],
    )
    expect(conversation).toMatchObject({
      status: 'waiting_for_human',
      escalation_reason: 'The user asked to talk to a human.',
    })
    expect(fake.chatRequests().length).toBe(before)
    const alerts = await sql(`select 1 from app.audit_log where action = 'alert.handoff' and entity_id = $1`, [
      conversation_id,
    ])
    expect(alerts).toHaveLength(1)
  })

  test('while a member has taken over, the agent stays silent', async () => {
    await setWakeUps(false)
    try {
      // A worker still draining an earlier wake-up (e.g. the hand-off DM job) must not take this job.
      await until(
        async () => (await sql(`select 1 from pgmq.q_agent_jobs where vt <= now()`)).length === 0,
        'an idle queue',
      )
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const { conversation_id, job_id } = await ingest('Is anyone there?')
      expect(job_id).not.toBeNull()
      const { error } = await admin.rpc('takeover_conversation', { conversation_id })
      expect(error).toBeNull()
      const { data, error: invokeError } = await service.functions.invoke('agent-worker', { body: { reason: 'test' } })
      expect(invokeError).toBeNull()
      expect(data.completed).toContainEqual(
        expect.objectContaining({ queue: 'agent_jobs', job_id, kind: 'reply', outcome: 'silent:human' }),
      )
      expect(await outbound(conversation_id)).toHaveLength(0)
      // New messages are not even enqueued while the human has it.
      const later = await ingest('Hello?', {
        thread: (
          await sql<{ thread_key: string }>(`select thread_key from app.conversations where id = $1`, [conversation_id])
        )[0]!.thread_key,
        user: 'visitor-takeover',
      })
      expect(later.enqueued).toBe(false)
    } finally {
      await setWakeUps(true)
    }
  })

  test('only the service role may wake the worker', async () => {
    const anon = stack.anonClient()
    const { error } = await anon.functions.invoke('agent-worker', { body: {} })
    expect(error).not.toBeNull()
    expect((error as { context?: Response }).context?.status).toBe(401)
  })

  test("a job of tenant A cannot be completed or failed with tenant B's id, nor forged to act in A", async () => {
    const stranger = await stack.newUser('tenant-b')
    const { data: tenantB, error: createError } = await stranger.client.rpc('create_tenant', { name: 'Tenant B' })
    expect(createError).toBeNull()
    const tenantBId = (tenantB as { id: string }).id

    await setWakeUps(false)
    try {
      const { conversation_id, message_id, job_id } = await ingest('What are your opening hours?')
      const complete = await service.rpc('complete_job', { queue_name: 'agent_jobs', job_id, tenant_id: tenantBId })
      expect(complete.error?.code).toBe('42501')
      const fail = await service.rpc('fail_job', { queue_name: 'agent_jobs', job_id, tenant_id: tenantBId })
      expect(fail.error?.code).toBe('42501')

      // A job that claims to be tenant B's but names tenant A's conversation.
      const forged = await service.rpc('enqueue_job', {
        queue_name: 'agent_jobs',
        job: { kind: 'reply', tenant_id: tenantBId, conversation_id, message_id },
      })
      expect(forged.error).toBeNull()
      const { data } = await service.functions.invoke('agent-worker', { body: {} })
      expect(data.completed).toContainEqual(expect.objectContaining({ job_id, outcome: 'model:sent' }))
      expect(data.failed).toContainEqual(
        expect.objectContaining({ job_id: forged.data, outcome: 'dead_lettered', dead_lettered: true }),
      )
      const replies = await outbound(conversation_id)
      expect(replies.map((m) => m.author_kind)).toEqual(['agent'])
    } finally {
      await setWakeUps(true)
    }
  })

  test('a side-effecting tool call waits for the user to confirm, and "no" cancels it', async () => {
    await sql(
      `update app.agents set tools = tools || '{"http_request": {"allowed_hosts": ["api.example.com"], "allowed_methods": ["GET", "POST"]}}'::jsonb
       where id = $1`,
      [AGENT],
    )
    try {
      fake.enqueue({
        toolCalls: [
          { name: 'http_request', arguments: { url: 'https://api.example.com/orders', method: 'POST', body: '{}' } },
        ],
      })
      const first = await ingest('Please create a new order for me', {
        user: 'visitor-orders',
        thread: 'thread-orders',
      })
      const ask = await until(
        async () => (await outbound(first.conversation_id)).find((m) => m.delivery_status === 'sent'),
        'the confirmation request',
      )
      expect(ask.text).toContain('Before I continue: may I send a POST request to api.example.com?')
      const pendingId = ask.metadata.confirmation.tool_call_id as string
      const [pending] = await sql<{ status: string; tool_name: string }>(
        `select status, tool_name from app.tool_calls where id = $1`,
        [pendingId],
      )
      expect(pending).toEqual({ status: 'awaiting_confirmation', tool_name: 'http_request' })

      await ingest('no', { user: 'visitor-orders', thread: 'thread-orders' })
      await until(
        async () => (await outbound(first.conversation_id)).filter((m) => m.delivery_status === 'sent').length === 2,
        'the answer after cancelling',
      )
      const [after] = await sql<{ status: string }>(`select status from app.tool_calls where id = $1`, [pendingId])
      expect(after!.status).toBe('cancelled')
      const resumed = fake.chatRequests().at(-1)
      expect(JSON.stringify(resumed.messages)).toContain('The user cancelled this action')
    } finally {
      await sql(`update app.agents set tools = tools - 'http_request' where id = $1`, [AGENT])
    }
  })

  test('Slack: a "thinking" placeholder in the user\'s thread becomes the answer, posted once', async () => {
    const before = slack.calls('chat.postMessage').length
    const updatesBefore = slack.calls('chat.update').length
    const { conversation_id } = await ingest('Hi from Slack', {
      connection: SLACK,
      thread: 'C0TEST:1700000000.000100',
      user: 'U0SLACKUSER',
      context: {
        slack_team_id: 'T0KONSTRUCT',
        slack_channel_id: 'C0TEST',
        slack_channel_type: 'channel',
        slack_thread_ts: '1700000000.000100',
      },
    })
    const reply = await until(
      async () => (await outbound(conversation_id)).find((m) => m.delivery_status === 'sent'),
      'the Slack reply',
    )
    const posts = slack.calls('chat.postMessage').slice(before)
    expect(posts).toHaveLength(1)
    expect(posts[0]!.body).toMatchObject({ channel: 'C0TEST', thread_ts: '1700000000.000100', text: '_Thinking…_' })
    expect(posts[0]!.headers['authorization']).toBe('Bearer xoxb-konstruct-placeholder')
    const updates = slack.calls('chat.update').slice(updatesBefore)
    expect(updates).toHaveLength(1)
    expect(updates[0]!.body).toMatchObject({ channel: 'C0TEST', text: 'Fake reply to: Hi from Slack' })
    const posted = slack.messages.find((m) => m.ts === reply.external_id)!
    expect(posted.text).toBe('Fake reply to: Hi from Slack')
    expect(posted.threadTs).toBe('1700000000.000100')
  })

  test('WhatsApp replies go to the contact, and a failing send is retried without a second model call', async () => {
    whatsapp.failNext({ kind: 'http_500' })
    const before = fake.chatRequests().length
    const { conversation_id } = await ingest('Hola from WhatsApp', {
      connection: WHATSAPP,
      thread: '15550001111',
      user: '15550001111',
    })
    const reply = await until(
      async () => (await outbound(conversation_id)).find((m) => m.delivery_status === 'sent'),
      'the WhatsApp reply',
    )
    expect(whatsapp.sent.map((m) => m.to)).toEqual(['15550001111'])
    expect(reply.external_id).toBe(whatsapp.sent[0]!.messageId)
    expect(reply.metadata.delivery_attempts).toBe(2)
    expect(fake.chatRequests().length).toBe(before + 1)
  })
})
