// Hand-off, takeover, a member's reply and release, end to end on WhatsApp: signed
// webhooks in through functions/whatsapp-webhook, the real agent-worker, replies out to
// the fake WhatsApp Cloud API, the admin in the portal's place (a signed-in supabase-js
// client on the tenant's private realtime topic, acting through the api).
import type { RealtimeChannel } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  TENANT,
  WHATSAPP,
  startAgentScenario,
  subscribeToTenant,
  until,
  type AgentScenario,
  type Broadcast,
} from '../support/agent-scenario.ts'

const CUSTOMER = '4915500000001'

let s: AgentScenario
let live: { channel: RealtimeChannel; received: Broadcast[] }

beforeAll(async () => {
  s = await startAgentScenario()
  live = await subscribeToTenant(s.admin)
}, 90_000)

afterAll(async () => {
  await live?.channel.unsubscribe()
  await s?.close()
})

/** The inbound message with this text, once the webhook stored it. */
const inbound = (conversationId: string, text: string) =>
  until(async () => {
    const rows = await s.sql<{ id: string }>(
      `select id from app.messages where conversation_id = $1 and direction = 'in' and text = $2`,
      [conversationId, text],
    )
    return rows[0]?.id
  }, `the inbound message "${text}"`)

const sentTo = (text: string) =>
  s.whatsapp.sent.filter((m) => m.to === CUSTOMER && JSON.stringify(m.body).includes(text))

const conversationStatus = async (id: string) =>
  (
    await s.sql<{ status: string; assigned_member_id: string | null }>(
      `select status, assigned_member_id from app.conversations where id = $1`,
      [id],
    )
  )[0]!

describe('a human takes over and hands back', () => {
  test('ask for a human → alert; takeover silences the agent; the member’s reply is delivered; release resumes with it in context', async () => {
    const { data: session } = await s.admin.auth.getSession()
    const adminId = session.session!.user.id

    // An ordinary exchange first.
    expect((await s.postWhatsAppText(CUSTOMER, 'Hi, where is my order 5521?', 'Hanna')).status).toBe(200)
    const conversationId = await s.conversationOf(WHATSAPP, CUSTOMER)
    await until(async () => sentTo('Fake reply to: Hi, where is my order 5521?').length === 1, 'the first answer')

    // 1. The user asks for a person: waiting_for_human, told so, admins alerted live — no model call.
    const modelCallsBefore = s.openai.chatRequests().length
    const askHuman = 'This is taking too long, I want to talk to a real person please'
    expect((await s.postWhatsAppText(CUSTOMER, askHuman, 'Hanna')).status).toBe(200)
    const alert = await until(
      () => live.received.find((b) => b.event === 'alert' && b.payload.entity_id === conversationId),
      'the live hand-off alert',
    )
    expect(alert.payload).toMatchObject({
      tenant_id: TENANT,
      kind: 'handoff',
      entity_type: 'conversation',
      details: { reason: 'The user asked to talk to a human.', source: 'user_request', contact_name: 'Hanna' },
    })
    await until(
      () =>
        live.received.find(
          (b) =>
            b.event === 'conversation_changed' &&
            b.payload.id === conversationId &&
            b.payload.status === 'waiting_for_human',
        ),
      'the live waiting_for_human change',
    )
    expect(await conversationStatus(conversationId)).toMatchObject({ status: 'waiting_for_human' })
    await until(async () => sentTo("I'm bringing in a human colleague").length === 1, 'the hand-off message')
    expect(s.openai.chatRequests().length).toBe(modelCallsBefore)

    // 2. The admin takes over; a new message from the user gets no agent reply (it is not even queued).
    const takeover = await s.admin.rpc('takeover_conversation', { conversation_id: conversationId })
    expect(takeover.error).toBeNull()
    expect(await conversationStatus(conversationId)).toEqual({ status: 'human', assigned_member_id: adminId })
    const waiting = 'Hello? Is anyone there?'
    expect((await s.postWhatsAppText(CUSTOMER, waiting, 'Hanna')).status).toBe(200)
    const waitingId = await inbound(conversationId, waiting)
    const jobsForWaiting = await s.sql(
      `select 1 from pgmq.q_agent_jobs where message ->> 'message_id' = $1
       union all select 1 from pgmq.a_agent_jobs where message ->> 'message_id' = $1`,
      [waitingId],
    )
    expect(jobsForWaiting).toHaveLength(0)

    // 3. The admin replies as a member: delivered to the customer's WhatsApp as written.
    const memberText = 'Hi Hanna, Sam here from the team. Order 5521 leaves our warehouse tomorrow morning.'
    const reply = await s.admin.rpc('reply_as_member', { conversation_id: conversationId, text: memberText })
    expect(reply.error).toBeNull()
    const memberMessageId = (reply.data as { message_id: string }).message_id
    const delivered = await until(async () => {
      const [row] = await s.sql<{ delivery_status: string; external_id: string | null; author_kind: string }>(
        `select delivery_status, external_id, author_kind from app.messages where id = $1`,
        [memberMessageId],
      )
      return row?.delivery_status === 'sent' ? row : undefined
    }, "the member's reply delivered")
    expect(delivered.author_kind).toBe('member')
    const sentMember = sentTo(memberText)
    expect(sentMember).toHaveLength(1)
    expect(sentMember[0]!.body).toMatchObject({ to: CUSTOMER, type: 'text', text: { body: memberText } })
    expect(delivered.external_id).toBe(sentMember[0]!.messageId)
    // Still no agent reply to the message that came in during the takeover, and no model call.
    expect(s.openai.chatRequests().length).toBe(modelCallsBefore)
    expect((await s.outbound(conversationId)).map((m) => m.author_kind)).toEqual(['agent', 'agent', 'member'])

    // 4. Release: the next message is answered by the agent, with the member's words in its context.
    const release = await s.admin.rpc('release_conversation', { conversation_id: conversationId })
    expect(release.error).toBeNull()
    expect(await conversationStatus(conversationId)).toEqual({ status: 'open', assigned_member_id: null })
    const after = 'Thanks Sam! Can I still change the delivery address?'
    expect((await s.postWhatsAppText(CUSTOMER, after, 'Hanna')).status).toBe(200)
    await until(async () => sentTo(`Fake reply to: ${after}`).length === 1, 'the agent answering again')
    const prompts = s.openai.chatRequests().filter((body) => JSON.stringify(body.messages).includes(after))
    expect(prompts).toHaveLength(1)
    const history = (prompts[0].messages as Array<{ role: string; content: string }>).slice(1)
    expect(history).toEqual([
      { role: 'user', content: 'Hi, where is my order 5521?' },
      { role: 'assistant', content: 'Fake reply to: Hi, where is my order 5521?' },
      { role: 'user', content: askHuman },
      { role: 'assistant', content: expect.stringContaining("I'm bringing in a human colleague") },
      { role: 'user', content: waiting },
      { role: 'assistant', content: `[Human teammate]: ${memberText}` },
      { role: 'user', content: after },
    ])
    // Exactly one of each message reached the customer.
    expect(s.whatsapp.sent.filter((m) => m.to === CUSTOMER)).toHaveLength(4)

    // 5. The audit log, as the admin reads it in the portal: escalation, takeover, release, the alert.
    const { data: audit, error } = await s.admin.rpc('list_audit_log', { tenant_id: TENANT, page_size: 200 })
    expect(error).toBeNull()
    const trail = (audit as Array<{ action: string; entity_id: string; actor_user_id: string | null; details: any }>)
      .filter((row) => row.entity_id === conversationId && /^(conversation|alert)\./.test(row.action))
      .reverse()
    expect(trail.map((row) => row.action)).toEqual([
      'conversation.escalated',
      'alert.handoff',
      'conversation.takeover',
      'conversation.release',
    ])
    const byAction = Object.fromEntries(trail.map((row) => [row.action, row]))
    expect(byAction['conversation.takeover']).toMatchObject({
      actor_user_id: adminId,
      details: { from: 'waiting_for_human', to: 'human', assigned_member_id: adminId },
    })
    expect(byAction['conversation.release']).toMatchObject({
      actor_user_id: adminId,
      details: { from: 'human', to: 'open' },
    })
  })

  test('a takeover while the model is still thinking: the late agent answer is withheld, and the admins see why', async () => {
    const customer = '4915500000002'
    const text = 'Can you tell me about the premium plan?'
    // The model takes a while; the admin takes over meanwhile.
    s.openai.latencyMs = 1500
    let conversationId: string
    try {
      expect((await s.postWhatsAppText(customer, text, 'Jonas')).status).toBe(200)
      conversationId = await s.conversationOf(WHATSAPP, customer)
      await until(
        () => s.openai.chatRequests().some((body) => JSON.stringify(body.messages).includes(text)),
        'the model call',
      )
      const takeover = await s.admin.rpc('takeover_conversation', { conversation_id: conversationId })
      expect(takeover.error).toBeNull()
    } finally {
      s.openai.latencyMs = 0
    }
    const messageId = await inbound(conversationId, text)
    await until(
      async () =>
        (await s.sql(`select 1 from pgmq.q_agent_jobs where message ->> 'message_id' = $1`, [messageId])).length === 0,
      'the reply job to finish',
    )
    // Nothing from the agent reached the customer once a human had the conversation.
    expect(s.whatsapp.sent.filter((m) => m.to === customer)).toEqual([])
    const rows = await s.outbound(conversationId)
    expect(rows.filter((m) => ['sent', 'delivered', 'read'].includes(m.delivery_status))).toEqual([])
    // The portal shows the answer as withheld, with the reason.
    const { data: page } = await s.admin.rpc('list_messages', { conversation_id: conversationId })
    const withheld = (
      page as Array<{ author_kind: string; delivery_status: string; delivery_error: string | null }>
    ).filter((m) => m.author_kind === 'agent')
    expect(withheld).toEqual([
      expect.objectContaining({ delivery_status: 'undeliverable', delivery_error: expect.stringMatching(/took over/) }),
    ])
    const { data: audit } = await s.admin.rpc('list_audit_log', {
      tenant_id: TENANT,
      action_prefix: 'agent.reply_withheld',
    })
    expect((audit as Array<{ entity_id: string }>).map((a) => a.entity_id)).toEqual([conversationId])
    expect(await conversationStatus(conversationId)).toMatchObject({ status: 'human' })
  })
})
