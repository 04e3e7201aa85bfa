// Faults end to end, through the real agent-worker under Deno: a rate-limited model, a
// model that keeps failing, a worker killed mid-batch, a tool that hangs, malformed tool
// calls and a Slack outage. In each case no job is lost, nothing reaches the user twice,
// the user is answered (or told) and the admins can see what happened — through the api
// and the tenant's live topic, as the portal does.
//
// agent-worker.test.ts already covers 500s retried then answered, the dead-letter
// bookkeeping on web chat, and a WhatsApp send retried without a second model call;
// these cover what it does not.
//
// Timings are shrunk: a visibility timeout of 8 s (a killed worker's job comes back after
// that), a time budget of 6 s per wake-up, backoff from 1 s, the cron safety net every
// second, tools time out after 1 s. Embeddings are on, so knowledge_search calls the
// fake's embeddings endpoint — which is how a tool is made to hang.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  SLACK,
  SLACK_BOT,
  TENANT,
  WEB_CHAT,
  slackTs,
  startAgentScenario,
  subscribeToTenant,
  until,
  type AgentScenario,
  type Broadcast,
} from '../support/agent-scenario.ts'

let s: AgentScenario
let live: { channel: RealtimeChannel; received: Broadcast[] }
let counter = 0

beforeAll(async () => {
  s = await startAgentScenario({
    WORKER_VISIBILITY_TIMEOUT_SECONDS: '8',
    WORKER_TIME_BUDGET_MS: '6000',
    WORKER_JOB_RESERVE_MS: '2000',
    MODEL_TIMEOUT_MS: '3000',
    TOOL_TIMEOUT_MS: '1000',
    OPENAI_EMBEDDINGS_MODEL: 'text-embedding-3-small',
  })
  live = await subscribeToTenant(s.admin)
}, 90_000)

afterAll(async () => {
  await live?.channel.unsubscribe()
  await s?.close()
})

/** A web chat message through the service api (what functions/web-chat does). */
async function ingestWebChat(text: string) {
  const n = ++counter
  const { data, error } = await s.service.rpc('ingest_message', {
    connection_id: WEB_CHAT,
    external_id: `faults-${n}-${Date.now()}`,
    thread_key: `faults-visitor-${n}`,
    external_user_id: `faults-visitor-${n}`,
    text,
  })
  if (error) throw new Error(`ingest failed: ${error.message}`)
  return data as { message_id: string; conversation_id: string; job_id: number }
}

/** A signed Slack mention in its own thread; resolves with the thread and its conversation. */
async function mentionOnSlack(text: string, channel = 'C0FAULTS') {
  const ts = slackTs()
  const response = await s.postSlackEvent({
    type: 'app_mention',
    user: 'U0DANA',
    text: `<@${SLACK_BOT}> ${text}`,
    ts,
    event_ts: ts,
    channel,
  })
  expect(response.status).toBe(200)
  const conversationId = await s.conversationOf(SLACK, `${channel}:${ts}`)
  const [{ id: messageId }] = await s.sql<{ id: string }>(
    `select id from app.messages where conversation_id = $1 and direction = 'in' order by seq desc limit 1`,
    [conversationId],
  )
  return { ts, channel, conversationId, messageId: messageId! }
}

const promptsAbout = (text: string) =>
  s.openai.chatRequests().filter((body) => JSON.stringify(body.messages).includes(text))

const sentReplies = (conversationId: string) =>
  until(
    async () => {
      const rows = await s.outbound(conversationId)
      return rows.some((m) => m.delivery_status === 'sent') ? rows : undefined
    },
    'a delivered reply',
    30_000,
  )

/** The tenant's audit log as the admin reads it, oldest first, for one conversation. */
async function auditOf(conversationId: string) {
  const { data, error } = await s.admin.rpc('list_audit_log', { tenant_id: TENANT, page_size: 200 })
  expect(error).toBeNull()
  return (data as Array<{ action: string; entity_type: string | null; entity_id: string; details: any }>)
    .filter((row) => row.entity_id === conversationId || row.details?.conversation_id === conversationId)
    .reverse()
}

/** No job for this inbound message is left in the queue. */
const jobGone = async (messageId: string) =>
  (await s.sql(`select 1 from pgmq.q_agent_jobs where message ->> 'message_id' = $1`, [messageId])).length === 0

describe('faults, end to end', () => {
  test("a 429 is retried after the model's Retry-After and the answer is delivered once", async () => {
    const text = 'What are your opening hours on Friday?'
    await s.setWakeUps(false)
    let conversationId: string
    let messageId: string
    try {
      s.openai.enqueue({ status: 429, retryAfter: 3 })
      ;({ conversation_id: conversationId, message_id: messageId } = await ingestWebChat(text))
      const { data: report, error } = await s.service.functions.invoke('agent-worker', { body: {} })
      expect(error).toBeNull()
      const failed = (report.failed as Array<Record<string, unknown>>).find((f) => f.kind === 'reply')
      expect(failed).toMatchObject({ outcome: 'retry', attempts: 1, dead_lettered: false })
      // Not sooner than the model asked.
      expect(failed!.retry_in_seconds).toBeGreaterThanOrEqual(3)
    } finally {
      await s.setWakeUps(true)
    }
    const rows = await sentReplies(conversationId)
    await until(() => jobGone(messageId), 'the job to be completed')
    expect(rows.map((m) => [m.author_kind, m.text])).toEqual([['agent', `Fake reply to: ${text}`]])
    expect(promptsAbout(text)).toHaveLength(2)
    const usage = await s.sql(`select 1 from app.usage_events where conversation_id = $1 and kind = 'chat'`, [
      conversationId,
    ])
    expect(usage).toHaveLength(1)
    // The admins see the rate-limited attempt and the call that answered.
    const audit = await auditOf(conversationId)
    const failures = audit.filter((a) => a.action === 'agent.model_call_failed')
    expect(failures).toHaveLength(1)
    expect(failures[0]!.details).toMatchObject({ attempt: 1, error: 'rate_limited', status: 429 })
    expect(audit.filter((a) => a.action === 'agent.model_call')).toHaveLength(1)
  })

  test('a model that keeps failing: dead-lettered, the apology replaces the Slack placeholder, admins alerted live', async () => {
    s.openai.respondWith(() => ({ status: 500 }))
    let thread: Awaited<ReturnType<typeof mentionOnSlack>>
    try {
      thread = await mentionOnSlack('Why was I charged twice this month?')
      await until(
        async () =>
          (await s.outbound(thread.conversationId)).find(
            (m) => m.author_kind === 'system' && m.delivery_status === 'sent',
          ),
        'the apology',
        30_000,
      )
    } finally {
      s.openai.respondWith(null)
    }
    const { conversationId, messageId, ts } = thread
    expect(promptsAbout('Why was I charged twice this month?')).toHaveLength(3)
    expect((await s.outbound(conversationId)).map((m) => m.author_kind)).toEqual(['system'])

    // The user sees one message in the thread: the "thinking" placeholder became the apology.
    const inThread = s.slack.messages.filter((m) => m.threadTs === ts)
    expect(inThread).toHaveLength(1)
    expect(inThread[0]!.history).toEqual(['_Thinking…_', expect.stringMatching(/^Sorry, I'm having trouble/)])

    // The job is in the dead-letter queue (pgmq's archive) after its three attempts.
    const archived = await s.sql<{ read_ct: number }>(
      `select read_ct from pgmq.a_agent_jobs where message ->> 'message_id' = $1`,
      [messageId],
    )
    expect(archived).toEqual([{ read_ct: 3 }])
    expect(await jobGone(messageId)).toBe(true)

    // The admins: alerted live on the tenant topic, and the audit log tells the story.
    const alert = await until(
      () =>
        live.received.find(
          (b) =>
            b.event === 'alert' && b.payload.kind === 'job_dead_lettered' && b.payload.entity_id === conversationId,
        ),
      'the live dead-letter alert',
    )
    expect(alert.payload.details).toMatchObject({ kind: 'reply', message_id: messageId, attempts: 3 })
    const actions = (await auditOf(conversationId)).map((a) => a.action)
    expect(actions.filter((a) => a === 'agent.model_call_failed')).toHaveLength(3)
    expect(actions).toContain('alert.job_dead_lettered')
    const deadLetters = await s.sql(
      `select 1 from app.audit_log where action = 'job.dead_lettered' and details -> 'job' ->> 'message_id' = $1`,
      [messageId],
    )
    expect(deadLetters).toHaveLength(1)
  })

  test('a worker killed mid-batch: both jobs come back after their visibility timeout and each is answered exactly once', async () => {
    const texts = ['Can you check whether my invoice was paid?', 'Could you resend my receipt by email?']
    // Both first model calls never answer; the worker is killed while it waits on them.
    s.openai.enqueue({ hang: true }, { hang: true })
    // Queue both while the worker sleeps, so one wake-up claims them as one batch.
    await s.setWakeUps(false)
    const threads: Array<Awaited<ReturnType<typeof mentionOnSlack>>> = []
    try {
      for (const text of texts) threads.push(await mentionOnSlack(text))
    } finally {
      await s.setWakeUps(true)
    }
    await until(() => texts.every((text) => promptsAbout(text).length === 1), 'both first model calls')
    const claims = await s.sql<{ read_ct: number; message_id: string }>(
      `select read_ct, message ->> 'message_id' as message_id from pgmq.q_agent_jobs
       where message ->> 'message_id' = any($1::text[])`,
      [threads.map((t) => t.messageId)],
    )
    expect(claims.map((c) => c.read_ct)).toEqual([1, 1])
    const pid = s.stack.functions.pid('agent-worker')
    expect(pid).toBeTypeOf('number')
    process.kill(pid!, 'SIGKILL')

    for (const [i, { conversationId, messageId, ts }] of threads.entries()) {
      const text = texts[i]!
      const rows = await sentReplies(conversationId)
      await until(() => jobGone(messageId), 'the job to be completed')
      expect(rows.map((m) => [m.author_kind, m.text])).toEqual([['agent', `Fake reply to: ${text}`]])
      expect(promptsAbout(text)).toHaveLength(2)
      // One message in the thread: the placeholder posted before the kill became the answer.
      const inThread = s.slack.messages.filter((m) => m.threadTs === ts)
      expect(inThread.map((m) => m.history)).toEqual([['_Thinking…_', `Fake reply to: ${text}`]])
      expect(s.slack.calls('chat.postMessage').filter((c) => (c.body as any).thread_ts === ts)).toHaveLength(1)
      expect(rows[0]!.external_id).toBe(inThread[0]!.ts)
      // Metered once, on the second attempt — which the admins can read in the audit log.
      const usage = await s.sql(`select 1 from app.usage_events where conversation_id = $1 and kind = 'chat'`, [
        conversationId,
      ])
      expect(usage).toHaveLength(1)
      const calls = (await auditOf(conversationId)).filter((a) => a.action === 'agent.model_call')
      expect(calls).toHaveLength(1)
      expect(calls[0]!.details.usage_key).toBe(`reply:${messageId}:a2:m0`)
    }
    expect(s.stack.functions.pid('agent-worker')).not.toBe(pid)
  }, 60_000)

  test('a stream that stalls (timeout) or is garbage (malformed) is retried; only a whole answer reaches the user', async () => {
    const text = 'Which payment methods do you accept?'
    s.openai.enqueue(
      { text: 'We accept cards, bank transfer and — ', stallAfterChunks: 2 },
      { raw: 'data: {"id": "x", "choices": [ this is not json\n\n' },
    )
    const { conversation_id: conversationId, message_id: messageId } = await ingestWebChat(text)
    const rows = await sentReplies(conversationId)
    await until(() => jobGone(messageId), 'the job to be completed')
    expect(rows.map((m) => [m.author_kind, m.text])).toEqual([['agent', `Fake reply to: ${text}`]])
    expect(promptsAbout(text)).toHaveLength(3)
    const failures = (await auditOf(conversationId)).filter((a) => a.action === 'agent.model_call_failed')
    expect(failures.map((f) => [f.details.attempt, f.details.error])).toEqual([
      [1, 'timeout'],
      [2, 'malformed'],
    ])
    const usage = await s.sql(`select 1 from app.usage_events where conversation_id = $1 and kind = 'chat'`, [
      conversationId,
    ])
    expect(usage).toHaveLength(1)
  })

  test('a tool that hangs is timed out and the user still gets an answer', async () => {
    const text = 'Do you have anything about warranty extensions?'
    // The model asks for knowledge_search; the tool's embedding request then never answers.
    let scripted = false
    s.openai.respondWith((body) => {
      if (!scripted && JSON.stringify(body.messages).includes(text)) {
        scripted = true
        s.openai.failNext(1, 'hang')
        return { toolCalls: [{ name: 'knowledge_search', arguments: { query: 'warranty extension' } }] }
      }
      const last = body.messages.at(-1)
      if (last?.role === 'tool') return { text: 'I could not look that up just now, but a colleague can help.' }
      return { text: 'Fake reply' }
    })
    let conversationId: string
    try {
      ;({ conversation_id: conversationId } = await ingestWebChat(text))
      await sentReplies(conversationId)
    } finally {
      s.openai.respondWith(null)
    }
    const rows = await s.outbound(conversationId)
    expect(rows.map((m) => [m.author_kind, m.text, m.delivery_status])).toEqual([
      ['agent', 'I could not look that up just now, but a colleague can help.', 'sent'],
    ])
    // The model was told the tool timed out.
    const second = promptsAbout(text).at(-1)
    const toolMessage = second.messages.at(-1)
    expect(toolMessage).toMatchObject({
      role: 'tool',
      content: expect.stringContaining('did not finish within 1000 ms'),
    })
    // The tool call is on record as failed, and audited with its arguments and outcome.
    const calls = await s.sql<{ tool_name: string; status: string; error: string; arguments: unknown }>(
      `select tool_name, status, error, arguments from app.tool_calls where conversation_id = $1`,
      [conversationId],
    )
    expect(calls).toEqual([
      {
        tool_name: 'knowledge_search',
        status: 'failed',
        error: expect.stringContaining('did not finish within 1000 ms'),
        arguments: { query: 'warranty extension' },
      },
    ])
    const audited = (await auditOf(conversationId)).filter((a) => a.action === 'agent.tool_call')
    expect(audited.map((a) => a.details)).toEqual([
      expect.objectContaining({
        tool: 'knowledge_search',
        outcome: 'timeout',
        arguments: { query: 'warranty extension' },
      }),
    ])
  })

  test('malformed tool calls from the model are refused, told to the model, and the user is answered', async () => {
    const text = 'What does the Team plan cost?'
    s.openai.enqueue(
      {
        toolCalls: [
          { name: 'knowledge_search', arguments: '{"query": "team plan pri' }, // cut off mid-JSON
          { name: 'knowledge_search', arguments: { query: 42, limit: 99 } }, // wrong types, out of range
          { name: 'delete_customer_account', arguments: { id: 'me' } }, // a tool it does not have
        ],
      },
      { text: 'The Team plan costs 99 euros per month.' },
    )
    const { conversation_id: conversationId } = await ingestWebChat(text)
    const rows = await sentReplies(conversationId)
    expect(rows.map((m) => [m.author_kind, m.text])).toEqual([['agent', 'The Team plan costs 99 euros per month.']])

    // Nothing ran; the model read why and answered in words on its next step.
    const second = promptsAbout(text).at(-1)
    const toolResults = (second.messages as Array<{ role: string; content: string }>).filter((m) => m.role === 'tool')
    expect(toolResults.map((m) => JSON.parse(m.content).error)).toEqual([
      'arguments are not valid JSON',
      expect.stringMatching(/query/),
      'no tool named delete_customer_account is available',
    ])
    const calls = await s.sql<{ tool_name: string; status: string; error: string; arguments: unknown }>(
      `select tool_name, status, error, arguments from app.tool_calls where conversation_id = $1 order by created_at, id`,
      [conversationId],
    )
    expect(calls).toHaveLength(3)
    expect(calls.every((c) => c.status === 'refused')).toBe(true)
    expect(calls.find((c) => c.tool_name === 'delete_customer_account')).toBeDefined()
    expect(calls.map((c) => c.arguments)).toContainEqual({ raw: '{"query": "team plan pri' })
    const outcomes = (await auditOf(conversationId))
      .filter((a) => a.action === 'agent.tool_call')
      .map((a) => a.details.outcome)
      .sort()
    expect(outcomes).toEqual(['invalid_arguments', 'invalid_arguments', 'unknown_tool'])
    // One answer, one metered turn of two model calls.
    expect(promptsAbout(text)).toHaveLength(2)
  })

  test('a Slack outage on delivery is retried and the answer is posted once, without a second model call', async () => {
    const text = 'Is the new office open on Saturdays?'
    // The placeholder goes out; replacing it with the answer fails once with a 500.
    s.slack.failNext({ kind: 'http_500' }, { method: 'chat.update' })
    const { conversationId, ts } = await mentionOnSlack(text)
    const rows = await sentReplies(conversationId)
    expect(rows.map((m) => [m.author_kind, m.text])).toEqual([['agent', `Fake reply to: ${text}`]])
    expect(rows[0]!.metadata.delivery_attempts).toBe(2)
    expect(promptsAbout(text)).toHaveLength(1)

    const inThread = s.slack.messages.filter((m) => m.threadTs === ts)
    expect(inThread.map((m) => m.history)).toEqual([['_Thinking…_', `Fake reply to: ${text}`]])
    const updates = s.slack.calls('chat.update').filter((c) => (c.body as any).ts === inThread[0]!.ts)
    expect(updates).toHaveLength(2) // the failed one and the one that landed

    // The admins watched the delivery fail and then succeed, live.
    const statuses = () =>
      live.received
        .filter((b) => b.event === 'message_updated' && b.payload.id === rows[0]!.id)
        .map((b) => b.payload.delivery_status as string)
    await until(() => statuses().includes('sent'), 'the live "sent" update')
    expect(statuses()).toContain('failed')
    expect(statuses().indexOf('failed')).toBeLessThan(statuses().indexOf('sent'))
    const { data: page } = await s.admin.rpc('list_messages', { conversation_id: conversationId })
    expect((page as Array<{ id: string; delivery_status: string }>).find((m) => m.id === rows[0]!.id)).toMatchObject({
      delivery_status: 'sent',
    })
  })

  test('a Slack channel that is gone: the answer is undeliverable, and the admins get one alert, live', async () => {
    const text = 'Can you send me the invoice for October?'
    // Replacing the placeholder with the answer fails for good: no retry can help.
    s.slack.failNext({ kind: 'slack_error', error: 'channel_not_found' }, { method: 'chat.update' })
    const { conversationId } = await mentionOnSlack(text)
    const refused = await until(
      async () => (await s.outbound(conversationId)).find((m) => m.delivery_status === 'undeliverable'),
      'the answer marked undeliverable',
      30_000,
    )
    expect(refused.text).toBe(`Fake reply to: ${text}`)
    const liveAlert = await until(
      () =>
        live.received.find(
          (b) => b.event === 'alert' && b.payload.kind === 'delivery_failed' && b.payload.entity_id === conversationId,
        ),
      'the live delivery alert',
    )
    expect(liveAlert.payload.details).toMatchObject({ message_id: refused.id })
    const alerts = (await auditOf(conversationId)).filter((a) => a.action === 'alert.delivery_failed')
    expect(alerts).toHaveLength(1)
    expect(alerts[0]!.details).toMatchObject({
      message_id: refused.id,
      reason: expect.stringContaining('channel_not_found'),
    })
  })
})
