// The agent worker with no model configured anywhere (no OPENAI_* in the function's
// environment, no tenant or agent model endpoint or key): the honest offline mode
// answers from the seeded knowledge base, meters nothing, and a tenant that brings its
// own endpoint gets model answers again. Also: budget exhaustion stops model calls, and
// agent settings stored by hand that do not fit the format (shared/agent/settings.ts)
// never fail the job: what fits is used, what does not is left out and logged.
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

const TENANT = '10000000-0000-4000-8000-000000000001'
const AGENT = '20000000-0000-4000-8000-000000000001'
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'

let stack: TestStack
let fake: FakeOpenAI
let service: SupabaseClient
let counter = 0
/** What the stack and its functions printed (the worker's log among it). */
const logLines: string[] = []

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

async function ingest(text: string) {
  const n = ++counter
  const { data, error } = await service.rpc('ingest_message', {
    connection_id: WEB_CHAT,
    external_id: `offline-${n}-${Date.now()}`,
    thread_key: `offline-visitor-${n}`,
    external_user_id: `offline-visitor-${n}`,
    text,
  })
  if (error) throw new Error(`ingest failed: ${error.message}`)
  return data as { message_id: string; conversation_id: string }
}

const sentReply = (conversationId: string) =>
  until(async () => {
    const rows = await sql<{ author_kind: string; text: string; delivery_status: string; metadata: any }>(
      `select author_kind, text, delivery_status, metadata from app.messages
       where conversation_id = $1 and direction = 'out' and delivery_status = 'sent' order by seq`,
      [conversationId],
    )
    return rows[0]
  }, 'a reply')

beforeAll(async () => {
  fake = await startFakeOpenAI()
  stack = await startTestStack({
    functionEnv: { WORKER_MEMORY_QUIET_SECONDS: '0' },
    log: (line) => {
      logLines.push(line)
      if (process.env.STACK_LOG) console.log(`[stack] ${line}`)
    },
  })
  service = stack.serviceClient()
  await stack.db.asOwner(async (tx) => {
    // The stack ran the deploy step (app.configure_functions) when it started.
    await tx.query(`select app.schedule_worker_safety_net('1 seconds')`)
  })
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
})

describe('the agent worker without a model', () => {
  test('answers offline by quoting the best knowledge passage, and meters nothing', async () => {
    const { conversation_id } = await ingest('How long does shipping take?')
    const reply = await sentReply(conversation_id)
    expect(reply.author_kind).toBe('agent')
    expect(reply.metadata.mode).toBe('offline')
    expect(reply.text).toMatch(/^Offline answer \(no AI model is configured/)
    expect(reply.text).toContain('Standard delivery takes 2 to 4 business days')
    const usage = await sql(`select 1 from app.usage_events where conversation_id = $1`, [conversation_id])
    expect(usage).toHaveLength(0)
  })

  test('offline, distilling memories learns nothing (and guesses nothing)', async () => {
    const { conversation_id } = await ingest('I am Priya from Globex and I prefer phone calls.')
    await sentReply(conversation_id)
    const [conversation] = await sql<{ contact_id: string }>(`select contact_id from app.conversations where id = $1`, [
      conversation_id,
    ])
    const { data: jobId, error } = await service.rpc('enqueue_job', {
      queue_name: 'agent_jobs',
      job: { kind: 'distil_memories', tenant_id: TENANT, conversation_id, after_seq: 0 },
    })
    expect(error).toBeNull()
    await until(
      async () => (await sql(`select 1 from pgmq.q_agent_jobs where msg_id = $1`, [jobId])).length === 0,
      'the memory job to be done',
    )
    const archived = await sql(`select 1 from pgmq.a_agent_jobs where msg_id = $1`, [jobId])
    expect(archived).toHaveLength(0)
    const memories = await sql(`select 1 from app.memories where contact_id = $1`, [conversation!.contact_id])
    expect(memories).toHaveLength(0)
    expect(fake.chatRequests()).toHaveLength(0)
  })

  test("a tenant's own endpoint and key (from Vault) take over from offline mode", async () => {
    await sql(`update app.tenants set model_settings = $1 where id = $2`, [
      { base_url: fake.url, model: 'tenant-model' },
      TENANT,
    ])
    await sql(`update app.agents set model_settings = model_settings - 'model' where id = $1`, [AGENT])
    const { error } = await service.rpc('set_llm_key', { tenant_id: TENANT, api_key: 'sk-tenant-own' })
    expect(error).toBeNull()
    try {
      const { conversation_id } = await ingest('What does the Team plan cost?')
      const reply = await sentReply(conversation_id)
      expect(reply.text).toBe('Fake reply to: What does the Team plan cost?')
      const request = fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!
      expect(request.headers['authorization']).toBe('Bearer sk-tenant-own')
      expect((request.body as { model: string }).model).toBe('tenant-model')
      const [usage] = await sql<{ model: string; cost_usd: string }>(
        `select model, cost_usd from app.usage_events where conversation_id = $1`,
        [conversation_id],
      )
      // An unpriced model costs the default mid-range price, never nothing.
      expect(usage!.model).toBe('tenant-model')
      expect(Number(usage!.cost_usd)).toBeGreaterThan(0)

      // Over its monthly budget the agent stops calling the model and tells the user.
      await sql(`update app.agents set monthly_token_budget = 1 where id = $1`, [AGENT])
      const before = fake.chatRequests().length
      const second = await ingest('And the Business plan?')
      const budgetReply = await sentReply(second.conversation_id)
      expect(budgetReply.author_kind).toBe('system')
      expect(budgetReply.metadata.mode).toBe('budget_exhausted')
      expect(budgetReply.text).toMatch(/reached its usage limit/)
      expect(fake.chatRequests().length).toBe(before)
      const alerts = await sql(
        `select 1 from app.audit_log where action = 'alert.budget_exhausted' and entity_id = $1`,
        [second.conversation_id],
      )
      expect(alerts).toHaveLength(1)
    } finally {
      await sql(`update app.agents set monthly_token_budget = 2000000 where id = $1`, [AGENT])
    }
  })

  test('settings written by hand that do not fit: the job answers with what fits, logs what was left out, and guesses no endpoint', async () => {
    await sql(`update app.tenants set model_settings = $1 where id = $2`, [
      { base_url: fake.url, model: 'tenant-model' },
      TENANT,
    ])
    const { error } = await service.rpc('set_llm_key', { tenant_id: TENANT, api_key: 'sk-tenant-own' })
    expect(error).toBeNull()
    const [saved] = await sql(`select model_settings, tools, escalation_rules from app.agents where id = $1`, [AGENT])
    const setAgent = (model_settings: unknown, tools: unknown, escalation_rules: unknown) =>
      sql(`update app.agents set model_settings = $2, tools = $3, escalation_rules = $4 where id = $1`, [
        AGENT,
        JSON.stringify(model_settings),
        JSON.stringify(tools),
        JSON.stringify(escalation_rules),
      ])
    const brokenTools = {
      knowledge_search: {},
      http_request: { allowed_hosts: 'api.example.com', allowed_methods: ['GET', 'POST'] },
      send_email: { to: 'boss@example.com' },
    }
    const rules = [
      { kind: 'keywords', keywords: 'refund' },
      42,
      { kind: 'keywords', keywords: ['lawyer'], reason: 'legal threat' },
    ]
    try {
      // 1. The agent's own endpoint does not fit: no model is called at all, neither the
      //    tenant's endpoint (with the tenant's key) nor the platform's; the answer is offline.
      await setAgent({ base_url: 'ftp://llm.example.com', temperature: 7, top_p: 0.9 }, brokenTools, rules)
      const first = await ingest('How long does shipping take?')
      const offline = await sentReply(first.conversation_id)
      expect(offline.metadata.mode).toBe('offline')
      expect(offline.text).toContain('Standard delivery takes 2 to 4 business days')
      const asked = (text: string) => fake.chatRequests().filter((b) => JSON.stringify(b.messages).includes(text))
      expect(asked('How long does shipping take?')).toHaveLength(0)
      await until(
        () =>
          logLines.some((l) => l.includes(`agent ${AGENT} of tenant ${TENANT} has stored settings that do not fit`)),
        'the worker to log the settings that do not fit',
      )
      const logged = logLines.join('\n')
      expect(logged).toContain('model_settings.base_url: Enter an http(s) URL')
      expect(logged).toContain('model_settings.temperature: Temperature is a number from 0 to 2. (left out)')
      expect(logged).toContain('tools.http_request.allowed_hosts: Invalid input: expected array, received string')
      expect(logged).toContain('tools.send_email: unknown, ignored.')
      expect(logged).toContain('escalation_rules[1]: Invalid input: expected object, received number (rule left out)')

      // 2. The rule that fits still hands over, by its reason.
      const second = await ingest('I will talk to my lawyer about this.')
      const handedOver = await until(async () => {
        const [row] = await sql<{ status: string; escalation_reason: string | null }>(
          `select status, escalation_reason from app.conversations where id = $1`,
          [second.conversation_id],
        )
        return row?.status === 'waiting_for_human' ? row : undefined
      }, 'the hand-off')
      expect(handedOver.escalation_reason).toMatch(/legal threat/)

      // 3. With an endpoint that fits, the model answers, offered only the tools that fit:
      //    the broken http_request is off, not opened wider.
      await setAgent({}, brokenTools, rules)
      const third = await ingest('Do you ship to Norway?')
      const answered = await sentReply(third.conversation_id)
      expect(answered.text).toBe('Fake reply to: Do you ship to Norway?')
      const request = asked('Do you ship to Norway?')[0]
      expect((request.tools ?? []).map((t: any) => t.function.name)).toEqual(['knowledge_search'])

      // No job of these conversations was dead-lettered.
      const conversations = [first.conversation_id, second.conversation_id, third.conversation_id]
      const dead = await sql(`select 1 from pgmq.a_agent_jobs where message ->> 'conversation_id' = any($1)`, [
        conversations,
      ])
      expect(dead).toHaveLength(0)
    } finally {
      await setAgent(saved!.model_settings, saved!.tools, saved!.escalation_rules)
    }
  })
})
