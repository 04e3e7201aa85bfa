// The short-term inbound rate limit end to end: signed webhooks from the fake Slack and
// WhatsApp reach the real channel functions, api.ingest_message counts them per sender and
// per tenant, and the real agent worker answers only what was admitted. Over a limit the
// message is stored, no model is called, and the sender gets one polite notice per window
// in the channel; the admins one alert. Another tenant keeps being answered.
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { signSlackRequest, slackEventEnvelope, startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'
import { testWorkerEnv } from '../support/worker-env.ts'

const SIGNING_SECRET = 'slack-signing-secret-rate-limit'
const APP_SECRET = 'whatsapp-app-secret-rate-limit'
const WA_TOKEN = 'EAAG-konstruct-placeholder'
const DEMO_TENANT = '10000000-0000-4000-8000-000000000001'
const DEMO_TEAM = 'T0KONSTRUCT'
const DEMO_BOT = 'U0KONSTRUCT'
const DEMO_PHONE = '100000000000001'
const OTHER_PHONE = '100000000000077'
const NOTICE = /^We're receiving a lot of messages right now/
// Long windows, so the test does not straddle one (see waitForRoomInWindow).
const WINDOW_SECONDS = 3600

let stack: TestStack
let openai: FakeOpenAI
let slack: FakeSlack
let wa: FakeWhatsApp
let unique = 0

beforeAll(async () => {
  openai = await startFakeOpenAI()
  slack = await startFakeSlack({ clientId: 'client-id', clientSecret: 'client-secret' })
  wa = await startFakeWhatsApp({ accessToken: WA_TOKEN })
  stack = await startTestStack({
    functionEnv: {
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_CLIENT_ID: 'client-id',
      SLACK_CLIENT_SECRET: 'client-secret',
      SLACK_API_URL: slack.url,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'whatsapp-verify-token-rate-limit',
      WHATSAPP_API_URL: wa.url,
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: 'sk-test-platform',
      ...testWorkerEnv,
    },
  })
  await stack.db.asOwner(async (tx) => {
    await tx.query(`select app.schedule_worker_safety_net('1 seconds')`)
  })
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await openai?.close()
  await slack?.close()
  await wa?.close()
})

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

async function rpc<T>(client: SupabaseClient, fn: string, args: Record<string, unknown>): Promise<T> {
  const { data, error } = await client.rpc(fn, args)
  if (error) throw new Error(`${fn}: ${error.message}`)
  return data as T
}

const fn = (name: string) => `${stack.url}/functions/v1/${name}`

function slackTs(): string {
  return `${Math.floor(Date.now() / 1000)}.${String(++unique).padStart(6, '0')}`
}

async function postSlackMention(channel: string, user: string, text: string): Promise<string> {
  const ts = slackTs()
  const body = JSON.stringify(
    slackEventEnvelope(
      { type: 'app_mention', user, text: `<@${DEMO_BOT}> ${text}`, ts, channel, event_ts: ts },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    ),
  )
  const response = await fetch(fn('slack-events'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signSlackRequest(SIGNING_SECRET, body) },
    body,
  })
  expect(response.status).toBe(200)
  return ts
}

async function postWhatsApp(phoneNumberId: string, from: string, text: string, wabaId?: string): Promise<string> {
  const messageId = `wamid.rl-${++unique}-${Date.now()}`
  const body = JSON.stringify(whatsAppTextWebhook({ phoneNumberId, from, text, messageId, wabaId }))
  const response = await fetch(fn('whatsapp-webhook'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(APP_SECRET, body) },
    body,
  })
  expect(response.status).toBe(200)
  return messageId
}

interface Outbound {
  text: string
  author_kind: string
  delivery_status: string
  metadata: Record<string, unknown>
}

/** The outbound messages of the conversation the inbound message with this external id is in. */
async function repliesTo(inboundExternalId: string): Promise<Outbound[]> {
  return sql<Outbound>(
    `select o.text, o.author_kind, o.delivery_status, o.metadata
     from app.messages i join app.messages o on o.conversation_id = i.conversation_id and o.direction = 'out'
     where i.external_id = $1 order by o.seq`,
    [inboundExternalId],
  )
}

const settled = (rows: Outbound[]) =>
  rows.every((r) => ['sent', 'delivered', 'read', 'undeliverable', 'failed'].includes(r.delivery_status))

async function settledReplies(inboundExternalId: string, what: string): Promise<Outbound[]> {
  return until(async () => {
    const rows = await repliesTo(inboundExternalId)
    return rows.length && settled(rows) ? rows : undefined
  }, what)
}

const queueEmpty = async () =>
  (await sql<{ n: number }>('select count(*)::int as n from pgmq.q_agent_jobs'))[0]!.n === 0

const modelCallsMentioning = (marker: string) =>
  openai.chatRequests().filter((b) => JSON.stringify(b.messages).includes(marker)).length

/** The windows are fixed: start the test well inside one so every message lands in it. */
async function waitForRoomInWindow(seconds: number) {
  const left = WINDOW_SECONDS - ((Date.now() / 1000) % WINDOW_SECONDS)
  if (left < seconds) await new Promise((resolve) => setTimeout(resolve, (left + 1) * 1000))
}

describe('inbound rate limit', () => {
  test('over the sender and tenant limits: stored, no model call, one notice per sender, other tenant answered', async () => {
    // The demo tenant: 3 messages per sender, 5 per tenant, per hour (its own settings);
    // another tenant on the platform defaults (120 per tenant, 20 per sender, per minute).
    await sql(
      `insert into app.settings (key, value) values
         ('inbound_rate_limit_per_sender:' || $1, '3'), ('inbound_rate_limit_per_tenant:' || $1, '5'),
         ('inbound_rate_limit_window_seconds:' || $1, $2)
       on conflict (key) do update set value = excluded.value`,
      [DEMO_TENANT, String(WINDOW_SECONDS)],
    )
    const owner = await stack.newUser('rate-limit-other-owner')
    const other = await rpc<{ id: string }>(owner.client, 'create_tenant', { name: 'Other Rate Co' })
    const agent = await rpc<{ id: string }>(owner.client, 'deploy_agent_template', {
      tenant_id: other.id,
      template_key: 'customer_support_rep',
    })
    wa.addBusinessAccount({
      id: 'waba-other',
      tokens: [WA_TOKEN],
      phoneNumbers: [{ id: OTHER_PHONE, displayPhoneNumber: '+1 555 010 0077' }],
    })
    const otherChannel = await rpc<{ id: string }>(owner.client, 'create_whatsapp_channel', {
      tenant_id: other.id,
      name: 'Other WhatsApp',
      phone_number_id: OTHER_PHONE,
      business_account_id: 'waba-other',
      access_token: WA_TOKEN,
      agent_id: agent.id,
    })
    // The worker proves the token controls the number before it receives anything.
    await until(
      async () =>
        (
          await sql(`select 1 from app.channel_connections where id = $1 and whatsapp_verified_at is not null`, [
            otherChannel.id,
          ])
        ).length === 1,
      'the number to be proven',
    )
    await waitForRoomInWindow(30)
    const modelCallsBefore = openai.chatRequests().length

    // 1. One Slack user mentions the agent in five new threads: three are answered; the fourth
    //    gets the notice in its thread; the fifth is stored and left alone.
    const channel = 'C0RATEFLOOD'
    const threads: string[] = []
    for (let i = 1; i <= 5; i++) threads.push(await postSlackMention(channel, 'U0FLOOD', `flood question [rl-${i}]`))
    const keys = threads.map((ts) => `${channel}:${ts}`)

    // 2. A WhatsApp customer of the same tenant: the tenant has had its 5, so the first message
    //    already gets the notice, the second nothing.
    const waFrom = '4915100007777'
    const waFirst = await postWhatsApp(DEMO_PHONE, waFrom, 'Is anyone there? [rl-wa-1]')
    const waSecond = await postWhatsApp(DEMO_PHONE, waFrom, 'Hello?? [rl-wa-2]')

    // 3. Another tenant's customer at the same time: answered as usual.
    const otherFrom = '4915100008888'
    const otherMessage = await postWhatsApp(
      OTHER_PHONE,
      otherFrom,
      'Do you deliver on Saturdays? [rl-other]',
      'waba-other',
    )

    for (let i = 0; i < 3; i++) {
      const replies = await settledReplies(keys[i]!, `the answer in thread ${i + 1}`)
      expect(replies).toHaveLength(1)
      expect(replies[0]).toMatchObject({ author_kind: 'agent', delivery_status: 'sent' })
      expect(replies[0]!.text).toBe(`Fake reply to: flood question [rl-${i + 1}]`)
    }
    const slackNotice = await settledReplies(keys[3]!, 'the notice on Slack')
    expect(slackNotice).toHaveLength(1)
    expect(slackNotice[0]).toMatchObject({ author_kind: 'system', delivery_status: 'sent' })
    expect(slackNotice[0]!.text).toMatch(NOTICE)
    expect(slackNotice[0]!.metadata).toMatchObject({ mode: 'rate_limit', limit: 'sender' })

    const waReplies = await settledReplies(waFirst, 'the notice on WhatsApp')
    expect(waReplies).toHaveLength(1)
    expect(waReplies[0]).toMatchObject({ author_kind: 'system', delivery_status: 'sent' })
    expect(waReplies[0]!.metadata).toMatchObject({ mode: 'rate_limit', limit: 'tenant' })

    const otherReplies = await settledReplies(otherMessage, 'the other tenant’s answer')
    expect(otherReplies).toHaveLength(1)
    expect(otherReplies[0]).toMatchObject({
      author_kind: 'agent',
      delivery_status: 'sent',
      text: 'Fake reply to: Do you deliver on Saturdays? [rl-other]',
    })
    await until(queueEmpty, 'an empty queue')

    // Every message was stored, in its tenant.
    const stored = await sql<{ external_id: string; tenant_id: string }>(
      `select external_id, tenant_id from app.messages where direction = 'in' and external_id = any($1::text[])`,
      [[...keys, waFirst, waSecond, otherMessage]],
    )
    expect(stored).toHaveLength(8)
    expect(stored.filter((m) => m.tenant_id === DEMO_TENANT)).toHaveLength(7)

    // Nothing more in the fifth thread nor for the second WhatsApp message.
    expect(await repliesTo(keys[4]!)).toEqual([])
    expect((await repliesTo(waSecond)).length).toBe(1) // the same conversation's one notice

    // On Slack: one message in each of the first four threads, the notice in the fourth, none in the fifth.
    const onSlack = slack.messages.filter((m) => m.channel === channel)
    expect(onSlack.map((m) => m.threadTs).sort()).toEqual(threads.slice(0, 4).sort())
    const slackNoticePosted = onSlack.find((m) => m.threadTs === threads[3])!
    expect(slackNoticePosted.text).toMatch(NOTICE)
    // On WhatsApp: exactly one message to the limited customer, the notice; the other tenant's answer.
    const toWaFrom = wa.sent.filter((m) => m.to === waFrom)
    expect(toWaFrom).toHaveLength(1)
    expect(JSON.stringify(toWaFrom[0]!.body)).toContain("We're receiving a lot of messages right now")
    const toOther = wa.sent.filter((m) => m.to === otherFrom)
    expect(toOther).toHaveLength(1)
    expect(toOther[0]!.phoneNumberId).toBe(OTHER_PHONE)

    // The model: one call per admitted message (three threads and the other tenant), none beyond.
    for (let i = 1; i <= 3; i++) expect(modelCallsMentioning(`[rl-${i}]`)).toBe(1)
    for (const marker of ['[rl-4]', '[rl-5]', '[rl-wa-1]', '[rl-wa-2]']) expect(modelCallsMentioning(marker)).toBe(0)
    expect(modelCallsMentioning('[rl-other]')).toBe(1)
    expect(openai.chatRequests().length - modelCallsBefore).toBe(4)

    // The admins: one alert for the window, whichever limit and however many messages; none for the other tenant.
    const alerts = await sql<{ tenant_id: string; details: Record<string, unknown> }>(
      `select tenant_id, details from app.audit_log where action = 'alert.inbound_rate_limited'`,
    )
    expect(alerts).toHaveLength(1)
    expect(alerts[0]!.tenant_id).toBe(DEMO_TENANT)
    expect(alerts[0]!.details).toMatchObject({ limit: 'sender', sender_limit: 3, tenant_limit: 5 })
  }, 90_000) // at most ~30 s of it waiting for a fresh window
})
