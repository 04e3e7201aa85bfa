// The worker enforces the plan too, end to end through the real agent-worker under Deno:
// a reply job queued while the tenant was allowed, then the tenant goes over its monthly
// tokens or its subscription is canceled before the worker wakes. No model request, nothing
// metered; the database's own polite notice in the Slack thread (or, while paused, the
// silence ingest keeps too) and one alert for the admins. Also: a Slack "thinking"
// placeholder does not outlive an answer withheld because a member took over.
//
// Wake-ups are turned off while jobs are queued (no pg_net, no cron safety net), then the
// worker is invoked directly, so its report says what it did with each job.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DEMO_PLATFORM_ADMIN } from '../../local/demo.ts'
import {
  AGENT,
  SLACK,
  SLACK_BOT,
  TENANT,
  slackTs,
  startAgentScenario,
  until,
  type AgentScenario,
} from '../support/agent-scenario.ts'

const PLAN_LIMIT_TEXT =
  "Sorry, I can't answer right now because this workspace has used everything its plan includes for this month. " +
  "I've let the team know, and someone will get back to you here."

const SUSPENDED_TEXT = 'Sorry, this assistant is not available right now. The team will get back to you here.'

let s: AgentScenario
let counter = 0

beforeAll(async () => {
  s = await startAgentScenario()
}, 90_000)

afterAll(async () => {
  await s?.close()
})

/** A signed Slack mention in a thread of its own; resolves once its reply job is queued. */
async function mentionOnSlack(text: string, channel: string) {
  const ts = slackTs()
  const response = await s.postSlackEvent({
    type: 'app_mention',
    user: 'U0ERIN',
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

const jobsOf = (messageId: string) =>
  s.sql(`select 1 from pgmq.q_agent_jobs where message ->> 'message_id' = $1 and message ->> 'kind' = 'reply'`, [
    messageId,
  ])

// A new Slack user's first message also queues a contact_profile lookup (tested in channels-end-to-end).
const queueEmpty = async () =>
  (await s.sql(`select 1 from pgmq.q_agent_jobs where message ->> 'kind' <> 'contact_profile'`)).length === 0

const usageCount = async () =>
  Number(
    (await s.sql<{ n: string }>(`select count(*) as n from app.usage_events where tenant_id = $1`, [TENANT]))[0]!.n,
  )

const alertsOf = (action: string) =>
  s.sql<{ details: Record<string, unknown> }>(
    `select details from app.audit_log where tenant_id = $1 and action = $2 order by created_at`,
    [TENANT, action],
  )

/** Wakes the worker once, directly, and returns what it did with each job. */
async function wakeWorker() {
  const { data, error } = await s.service.functions.invoke('agent-worker', { body: {} })
  expect(error).toBeNull()
  return data as { completed: Array<{ kind: string; outcome: string }>; failed: unknown[] }
}

/** Puts the demo tenant on a private plan for the duration of fn. */
async function onPlan(
  plan: { monthly_messages: number | null; monthly_tokens: number | null },
  fn: () => Promise<void>,
) {
  const key = `ent_${++counter}`
  const [before] = await s.sql<{ plan_key: string }>(`select plan_key from app.subscriptions where tenant_id = $1`, [
    TENANT,
  ])
  await s.sql(
    `insert into app.plans (key, tenant_id, name, included_agents, monthly_messages, monthly_tokens, is_public)
     values ($1, $2, 'Entitlements test', 3, $3, $4, false)`,
    [key, TENANT, plan.monthly_messages, plan.monthly_tokens],
  )
  await s.sql(`update app.subscriptions set plan_key = $2 where tenant_id = $1`, [TENANT, key])
  try {
    await fn()
  } finally {
    await s.sql(`update app.subscriptions set plan_key = $2 where tenant_id = $1`, [TENANT, before!.plan_key])
  }
}

describe('the worker checks the plan again before calling the model', () => {
  test('over the monthly tokens after the jobs were queued: the polite notice in each thread, one alert, no model call, nothing metered', async () => {
    const [{ tokens }] = await s.sql<{ tokens: string }>(
      `select coalesce(sum(input_tokens + output_tokens), 0) as tokens from app.usage_events
       where tenant_id = $1 and occurred_at >= date_trunc('month', now())`,
      [TENANT],
    )
    await onPlan({ monthly_messages: null, monthly_tokens: Number(tokens) + 500 }, async () => {
      await s.setWakeUps(false)
      try {
        await until(queueEmpty, 'an empty queue')
        // Two questions while the tenant is within its plan: both queued for the agent.
        const first = await mentionOnSlack('What does the Team plan include?', 'C0ENTTOKENS')
        const second = await mentionOnSlack('And can I pay yearly?', 'C0ENTTOKENS')
        expect(await jobsOf(first.messageId)).toHaveLength(1)
        expect(await jobsOf(second.messageId)).toHaveLength(1)

        // Meanwhile another conversation's answers use up the month's tokens.
        const used = await s.service.rpc('record_usage', {
          tenant_id: TENANT,
          model: 'gpt-4o-mini',
          input_tokens: 900,
          output_tokens: 100,
          cost_usd: 0.001,
          agent_id: AGENT,
          conversation_id: null,
          kind: 'chat',
          idempotency_key: `entitlements-usage-${Date.now()}`,
          metadata: {},
        })
        expect(used.error).toBeNull()
        const { data: entitlement } = await s.service.rpc('check_entitlement', { tenant_id: TENANT })
        expect(entitlement).toMatchObject({ allowed: false, reason: 'monthly_tokens', message: PLAN_LIMIT_TEXT })

        const modelRequests = s.openai.requests.length
        const usage = await usageCount()
        const report = await wakeWorker()
        expect(report.failed).toEqual([])
        expect(report.completed.filter((j) => j.kind === 'reply').map((j) => j.outcome)).toEqual([
          'plan_limit:sent',
          'plan_limit:sent',
        ])

        expect(s.openai.requests.length).toBe(modelRequests)
        expect(await usageCount()).toBe(usage)
        for (const question of [first, second]) {
          const rows = await s.outbound(question.conversationId)
          expect(rows).toHaveLength(1)
          expect(rows[0]).toMatchObject({
            author_kind: 'system',
            text: PLAN_LIMIT_TEXT,
            delivery_status: 'sent',
            metadata: { mode: 'plan_limit', limit: 'monthly_tokens', in_reply_to: question.messageId },
          })
          // Once, in the thread the question was asked in, with no "thinking" before it.
          const inThread = s.slack.messages.filter((m) => m.channel === question.channel && m.threadTs === question.ts)
          expect(inThread).toHaveLength(1)
          expect(inThread[0]!.text).toContain("Sorry, I can't answer right now")
          expect(inThread[0]!.history).toHaveLength(1)
          expect(rows[0]!.external_id).toBe(inThread[0]!.ts)
        }
        const alerts = await alertsOf('alert.plan_limit_reached')
        expect(alerts).toHaveLength(1)
        expect(alerts[0]!.details).toMatchObject({ limit: 'monthly_tokens' })

        // A second wake-up finds nothing left to do: delivered once.
        expect(await queueEmpty()).toBe(true)
        expect((await wakeWorker()).completed.filter((job) => job.kind !== 'contact_profile')).toEqual([])
        expect(s.slack.messages.filter((m) => m.channel === 'C0ENTTOKENS')).toHaveLength(2)
      } finally {
        await s.setWakeUps(true)
      }
    })
  })

  test('a message admitted within the monthly messages is still answered when later messages elsewhere went over', async () => {
    const [{ n }] = await s.sql<{ n: string }>(
      `select count(*) as n from app.messages
       where tenant_id = $1 and direction = 'in' and created_at >= date_trunc('month', now())`,
      [TENANT],
    )
    await onPlan({ monthly_messages: Number(n) + 1, monthly_tokens: null }, async () => {
      await s.setWakeUps(false)
      try {
        await until(queueEmpty, 'an empty queue')
        const admitted = await mentionOnSlack('Is the last message of the month answered?', 'C0ENTMSGS')
        const over = await mentionOnSlack('One more question', 'C0ENTMSGS2')
        expect(await jobsOf(admitted.messageId)).toHaveLength(1)
        expect(await jobsOf(over.messageId)).toHaveLength(0)

        const report = await wakeWorker()
        expect(report.failed).toEqual([])
        expect(report.completed.map((j) => [j.kind, j.outcome])).toEqual(
          expect.arrayContaining([
            ['reply', 'model:sent'],
            ['deliver', 'sent'],
          ]),
        )
        const answered = await s.outbound(admitted.conversationId)
        expect(answered.map((m) => [m.author_kind, m.text])).toEqual([
          ['agent', 'Fake reply to: Is the last message of the month answered?'],
        ])
        const refused = await s.outbound(over.conversationId)
        expect(refused.map((m) => [m.author_kind, m.text])).toEqual([['system', PLAN_LIMIT_TEXT]])
      } finally {
        await s.setWakeUps(true)
      }
    })
  })

  test('suspended by a platform admin after the jobs were queued: the polite suspended notice in each thread, no model call, nothing metered', async () => {
    const platform = s.stack.anonClient()
    const signedIn = await platform.auth.signInWithPassword(DEMO_PLATFORM_ADMIN)
    expect(signedIn.error).toBeNull()
    await s.setWakeUps(false)
    try {
      await until(queueEmpty, 'an empty queue')
      // Two questions while the tenant may answer: both queued for the agent.
      const first = await mentionOnSlack('Where is my order?', 'C0ENTSUSPEND')
      const second = await mentionOnSlack('Do you ship abroad?', 'C0ENTSUSPEND')
      expect(await jobsOf(first.messageId)).toHaveLength(1)
      expect(await jobsOf(second.messageId)).toHaveLength(1)

      // Then a platform admin suspends the tenant from the console.
      const suspended = await platform.rpc('suspend_tenant', { tenant_id: TENANT, reason: 'spam reports' })
      expect(suspended.error).toBeNull()
      const { data: entitlement } = await s.service.rpc('check_entitlement', { tenant_id: TENANT })
      expect(entitlement).toMatchObject({ allowed: false, reason: 'suspended', message: SUSPENDED_TEXT })

      const modelRequests = s.openai.requests.length
      const usage = await usageCount()
      const planAlerts = (await alertsOf('alert.plan_limit_reached')).length
      const report = await wakeWorker()
      expect(report.failed).toEqual([])
      expect(report.completed.filter((j) => j.kind === 'reply').map((j) => j.outcome)).toEqual([
        'suspended:sent',
        'suspended:sent',
      ])
      // No model call, nothing metered, no plan alert: the customer gets the notice ingest gives.
      expect(s.openai.requests.length).toBe(modelRequests)
      expect(await usageCount()).toBe(usage)
      expect(await alertsOf('alert.plan_limit_reached')).toHaveLength(planAlerts)
      for (const question of [first, second]) {
        const rows = await s.outbound(question.conversationId)
        expect(rows).toHaveLength(1)
        expect(rows[0]).toMatchObject({
          author_kind: 'system',
          text: SUSPENDED_TEXT,
          delivery_status: 'sent',
          metadata: { mode: 'suspended', in_reply_to: question.messageId },
        })
        const inThread = s.slack.messages.filter((m) => m.channel === question.channel && m.threadTs === question.ts)
        expect(inThread).toHaveLength(1)
        expect(inThread[0]!.text).toContain('this assistant is not available right now')
        expect(rows[0]!.external_id).toBe(inThread[0]!.ts)
      }
      // Delivered once: a second wake-up finds nothing.
      expect(await queueEmpty()).toBe(true)
      expect((await wakeWorker()).completed.filter((job) => job.kind !== 'contact_profile')).toEqual([])
      expect(s.slack.messages.filter((m) => m.channel === 'C0ENTSUSPEND')).toHaveLength(2)
    } finally {
      const resumed = await platform.rpc('resume_tenant', { tenant_id: TENANT })
      expect(resumed.error).toBeNull()
      await s.setWakeUps(true)
    }
  })

  test('canceled after the job was queued: no model call, nothing metered, silence as at ingest, the admins alerted once', async () => {
    await s.setWakeUps(false)
    try {
      await until(queueEmpty, 'an empty queue')
      const question = await mentionOnSlack('Can someone call me back today?', 'C0ENTCANCEL')
      const later = await mentionOnSlack('Hello?', 'C0ENTCANCEL')
      expect(await jobsOf(question.messageId)).toHaveLength(1)
      expect(await jobsOf(later.messageId)).toHaveLength(1)

      // The subscription is canceled through the service api the stripe-webhook function uses.
      const customer = await s.service.rpc('save_stripe_customer', { tenant_id: TENANT, customer_id: 'cus_entdemo1' })
      expect(customer.error).toBeNull()
      const canceled = await s.service.rpc('apply_stripe_event', {
        event: {
          id: `evt_entitlements_${Date.now()}`,
          type: 'customer.subscription.deleted',
          created: Math.floor(Date.now() / 1000),
          customer: 'cus_entdemo1',
          subscription: { id: 'sub_entdemo1', status: 'canceled', items: [], plan_key: 'team' },
        },
      })
      expect(canceled.error).toBeNull()
      expect(canceled.data).toMatchObject({ outcome: 'applied', status: 'canceled' })
      const { data: entitlement } = await s.service.rpc('check_entitlement', { tenant_id: TENANT })
      expect(entitlement).toMatchObject({ allowed: false, reason: 'paused' })

      const modelRequests = s.openai.requests.length
      const usage = await usageCount()
      const report = await wakeWorker()
      expect(report.failed).toEqual([])
      expect(report.completed.filter((j) => j.kind === 'reply').map((j) => j.outcome)).toEqual([
        'silent:billing_canceled',
        'silent:billing_canceled',
      ])
      expect(s.openai.requests.length).toBe(modelRequests)
      expect(await usageCount()).toBe(usage)
      expect(await s.outbound(question.conversationId)).toEqual([])
      expect(await s.outbound(later.conversationId)).toEqual([])
      expect(s.slack.messages.filter((m) => m.channel === 'C0ENTCANCEL')).toEqual([])
      expect(await queueEmpty()).toBe(true)
      const alerts = await alertsOf('alert.agents_paused')
      expect(alerts).toHaveLength(1)
      expect(alerts[0]!.details).toMatchObject({ reason: 'canceled' })
    } finally {
      await s.setWakeUps(true)
    }
  })
})

describe('a member takes over while the model is thinking on Slack', () => {
  test('the withheld answer takes its "Thinking…" placeholder with it (chat.delete)', async () => {
    // The cancel test above paused the demo tenant: paying again resumes it.
    const resumed = await s.service.rpc('apply_stripe_event', {
      event: {
        id: `evt_entitlements_resume_${Date.now()}`,
        type: 'customer.subscription.created',
        created: Math.floor(Date.now() / 1000) + 5,
        customer: 'cus_entdemo1',
        subscription: { id: 'sub_entdemo2', status: 'active', items: [], plan_key: 'team' },
      },
    })
    expect(resumed.error).toBeNull()
    expect(resumed.data).toMatchObject({ status: 'active' })
    await until(queueEmpty, 'an empty queue')

    const text = 'Could you compare the Team and Business plans for me?'
    s.openai.latencyMs = 1500
    let question: Awaited<ReturnType<typeof mentionOnSlack>>
    try {
      question = await mentionOnSlack(text, 'C0ENTTAKEOVER')
      await until(
        () => s.openai.chatRequests().some((body) => JSON.stringify(body.messages).includes(text)),
        'the model call',
      )
      const placeholder = s.slack.messages.find((m) => m.channel === 'C0ENTTAKEOVER' && m.threadTs === question.ts)
      expect(placeholder?.text).toBe('_Thinking…_')
      const takeover = await s.admin.rpc('takeover_conversation', { conversation_id: question.conversationId })
      expect(takeover.error).toBeNull()
    } finally {
      s.openai.latencyMs = 0
    }
    await until(async () => (await jobsOf(question.messageId)).length === 0, 'the reply job to finish')

    const rows = await s.outbound(question.conversationId)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ author_kind: 'agent', delivery_status: 'undeliverable' })
    // The placeholder was deleted, once, and nothing of the agent's is left in the thread.
    const deletes = s.slack.calls('chat.delete')
    expect(deletes).toHaveLength(1)
    expect(deletes[0]!.body).toMatchObject({ channel: 'C0ENTTAKEOVER' })
    expect(s.slack.messages.filter((m) => m.channel === 'C0ENTTAKEOVER')).toEqual([])
    expect(
      s.slack.calls('chat.update').filter((r) => (r.body as { channel?: string }).channel === 'C0ENTTAKEOVER'),
    ).toEqual([])
    const [inbound] = await s.sql<{ delivery: Record<string, unknown> }>(
      `select metadata -> 'delivery' as delivery from app.messages where id = $1`,
      [question.messageId],
    )
    expect(inbound!.delivery).toMatchObject({
      slack_placeholder_ts: null,
      slack_placeholder_deleted_ts: expect.any(String),
    })
  })
})
