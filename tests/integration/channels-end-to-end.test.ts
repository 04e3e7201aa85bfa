// Channels end to end on the local stack: a signed webhook from the fake Slack or WhatsApp
// reaches the real channel function, which ingests it; pg_net wakes the real agent worker,
// which answers with the fake OpenAI and delivers through shared/channels/delivery to the
// fake Slack or WhatsApp. What the user would see is asserted on the fakes: one reply, in
// the right thread / to the right number, whatever the platforms retry or throttle.
import { installSlack } from '../support/slack-install.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { signSlackRequest, slackEventEnvelope, startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { setWakeUps as setStackWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'
import { testWorkerEnv } from '../support/worker-env.ts'

const SIGNING_SECRET = 'slack-signing-secret-e2e'
const APP_SECRET = 'whatsapp-app-secret-e2e'
const DEMO_TEAM = 'T0KONSTRUCT'
const DEMO_BOT = 'U0KONSTRUCT'
const DEMO_SLACK_TOKEN = 'xoxb-konstruct-placeholder'
const INSTALLED_TOKEN = 'xoxb-installed-e2e-token'
const PHONE = '100000000000001'
const DEMO_WA = '30000000-0000-4000-8000-000000000003'

let stack: TestStack
let openai: FakeOpenAI
let slack: FakeSlack
let wa: FakeWhatsApp
let unique = 0

beforeAll(async () => {
  openai = await startFakeOpenAI()
  slack = await startFakeSlack({ clientId: 'client-id', clientSecret: 'client-secret', botToken: INSTALLED_TOKEN })
  wa = await startFakeWhatsApp({ accessToken: 'EAAG-konstruct-placeholder' })
  stack = await startTestStack({
    functionEnv: {
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_CLIENT_ID: 'client-id',
      SLACK_CLIENT_SECRET: 'client-secret',
      SLACK_API_URL: slack.url,
      SLACK_OAUTH_URL: `${slack.root}/oauth/v2/authorize`,
      PORTAL_URL: 'http://portal.test',
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'whatsapp-verify-token-e2e',
      WHATSAPP_API_URL: wa.url,
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: 'sk-test-platform',
      ...testWorkerEnv,
    },
  })
  // The stack configured pg_net wake-ups of the worker when it started; the safety net runs
  // every second here so a retried job does not wait for the production 30 seconds.
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

const setWakeUps = (enabled: boolean) => setStackWakeUps(stack, enabled)

const fn = (name: string, path = '') => `${stack.url}/functions/v1/${name}${path}`

function slackTs(): string {
  return `${Math.floor(Date.now() / 1000)}.${String(++unique).padStart(6, '0')}`
}

async function postSlack(body: string, headers: Record<string, string> = {}) {
  return fetch(fn('slack-events'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signSlackRequest(SIGNING_SECRET, body), ...headers },
    body,
  })
}

async function postWhatsApp(body: string) {
  return fetch(fn('whatsapp-webhook'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(APP_SECRET, body) },
    body,
  })
}

/** Delivers one Slack event as Slack does when its first attempts time out: the original and retries 1 and 2. */
async function deliverThreeTimes(body: string) {
  const statuses = [(await postSlack(body)).status]
  for (const retry of ['1', '2']) {
    statuses.push(
      (await postSlack(body, { 'x-slack-retry-num': retry, 'x-slack-retry-reason': 'http_timeout' })).status,
    )
  }
  return statuses
}

interface Outbound {
  id: string
  text: string
  delivery_status: string
  external_id: string | null
  delivery_error: string | null
  metadata: Record<string, any>
}

/** The agent's replies in the conversation the inbound message with this external id opened. */
async function repliesTo(inboundExternalId: string): Promise<Outbound[]> {
  return sql<Outbound>(
    `select o.id, o.text, o.delivery_status, o.external_id, o.delivery_error, o.metadata
     from app.messages i join app.messages o on o.conversation_id = i.conversation_id and o.direction = 'out'
     where i.external_id = $1 order by o.seq`,
    [inboundExternalId],
  )
}

/** Waits until the reply is settled (sent or given up) and no agent job is left for anyone. */
async function settledReplies(inboundExternalId: string, what: string): Promise<Outbound[]> {
  const replies = await until(async () => {
    const rows = await repliesTo(inboundExternalId)
    return rows.length &&
      rows.every((r) => ['sent', 'delivered', 'read', 'undeliverable', 'failed'].includes(r.delivery_status))
      ? rows
      : undefined
  }, what)
  await until(
    async () => (await sql<{ n: number }>('select count(*)::int as n from pgmq.q_agent_jobs'))[0]!.n === 0,
    'an empty queue',
  )
  return replies
}

const chatCallsIn = (channel: string, method: string) =>
  slack.calls(method).filter((r) => (r.body as Record<string, unknown>)['channel'] === channel)

describe('Slack through the worker', () => {
  test('a mention delivered three times is answered exactly once, in the thread of the mention', async () => {
    const channel = 'C0E2EONE'
    const ts = slackTs()
    const envelope = slackEventEnvelope(
      {
        type: 'app_mention',
        user: 'U0ALICE',
        text: `<@${DEMO_BOT}> when do you open on Sundays?`,
        ts,
        channel,
        event_ts: ts,
      },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect(await deliverThreeTimes(JSON.stringify(envelope))).toEqual([200, 200, 200])

    const replies = await settledReplies(`${channel}:${ts}`, 'the Slack reply')
    expect(replies).toHaveLength(1)
    expect(replies[0]).toMatchObject({ text: 'Fake reply to: when do you open on Sundays?', delivery_status: 'sent' })

    // On Slack: one message in the mention's thread, the placeholder turned into the answer.
    const inChannel = slack.messages.filter((m) => m.channel === channel)
    expect(inChannel).toHaveLength(1)
    expect(inChannel[0]).toMatchObject({ threadTs: ts, text: 'Fake reply to: when do you open on Sundays?' })
    expect(inChannel[0]!.ts).toBe(replies[0]!.external_id)
    expect(chatCallsIn(channel, 'chat.postMessage')).toHaveLength(1)
    expect(chatCallsIn(channel, 'chat.postMessage')[0]!.headers['authorization']).toBe(`Bearer ${DEMO_SLACK_TOKEN}`)
    // One model call for the one message.
    expect(openai.chatRequests().filter((b) => JSON.stringify(b.messages).includes('open on Sundays'))).toHaveLength(1)
  })

  test('a 429 with Retry-After: 1 delays the answer, which then arrives exactly once', async () => {
    const channel = 'C0E2ETHROTTLE'
    const ts = slackTs()
    // Slack throttles the edit that turns the placeholder into the answer.
    slack.failNext({ kind: 'http_429', retryAfter: 1 }, { method: 'chat.update' })
    const envelope = slackEventEnvelope(
      { type: 'app_mention', user: 'U0ALICE', text: `<@${DEMO_BOT}> is parking free?`, ts, channel, event_ts: ts },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSlack(JSON.stringify(envelope))).status).toBe(200)

    const replies = await settledReplies(`${channel}:${ts}`, 'the throttled Slack reply')
    expect(replies).toHaveLength(1)
    expect(replies[0]!.delivery_status).toBe('sent')

    const updates = chatCallsIn(channel, 'chat.update')
    expect(updates).toHaveLength(2) // the throttled one and the one after Retry-After
    const waitedMs = updates[1]!.at.getTime() - updates[0]!.at.getTime()
    expect(waitedMs).toBeGreaterThanOrEqual(950)
    const inChannel = slack.messages.filter((m) => m.channel === channel)
    expect(inChannel).toHaveLength(1)
    expect(inChannel[0]).toMatchObject({ threadTs: ts, text: 'Fake reply to: is parking free?' })
    expect(chatCallsIn(channel, 'chat.postMessage')).toHaveLength(1)
  })

  test('an OAuth install stores the token encrypted and the next event is answered for that tenant with it', async () => {
    const admin = await stack.newUser('e2e-slack-admin')
    const created = await admin.client.rpc('create_tenant', { name: 'Installed Co' })
    expect(created.error).toBeNull()
    const tenantId = (created.data as { id: string }).id
    const deployed = await admin.client.rpc('deploy_agent_template', {
      tenant_id: tenantId,
      template_key: 'customer_support_rep',
      name: 'Iris',
    })
    expect(deployed.error).toBeNull()
    const accessToken = (await admin.client.auth.getSession()).data.session!.access_token

    const { completion } = await installSlack(`${stack.url}/functions/v1`, accessToken, tenantId)
    expect(completion?.body.outcome).toBe('installed')

    // Encrypted at rest: the Vault row holds ciphertext, only the decrypting view shows the token.
    const [connection] = await sql<{ id: string; token_secret_id: string; agent_id: string | null; row: string }>(
      `select c.id, c.token_secret_id, c.agent_id, row_to_json(c)::text as row
       from app.channel_connections c where c.tenant_id = $1 and c.kind = 'slack'`,
      [tenantId],
    )
    expect(connection?.agent_id).toBeTruthy()
    expect(connection!.row).not.toContain(INSTALLED_TOKEN)
    const [stored] = await sql<{ secret: string }>('select secret from vault.secrets where id = $1', [
      connection!.token_secret_id,
    ])
    expect(stored!.secret).toBeTruthy()
    expect(stored!.secret).not.toContain(INSTALLED_TOKEN)
    const [decrypted] = await sql<{ decrypted_secret: string }>(
      'select decrypted_secret from vault.decrypted_secrets where id = $1',
      [connection!.token_secret_id],
    )
    expect(decrypted!.decrypted_secret).toBe(INSTALLED_TOKEN)

    // The next mention from that workspace lands in the tenant and is answered with its token.
    const channel = 'C0INSTALLED'
    const ts = slackTs()
    const envelope = slackEventEnvelope(
      {
        type: 'app_mention',
        user: 'U0CAROL',
        text: '<@U0FAKEBOT> hello from the new workspace',
        ts,
        channel,
        event_ts: ts,
      },
      { teamId: 'T0FAKETEAM', botUserId: 'U0FAKEBOT' },
    )
    expect((await postSlack(JSON.stringify(envelope))).status).toBe(200)
    const replies = await settledReplies(`${channel}:${ts}`, 'the reply in the installed workspace')
    expect(replies).toHaveLength(1)
    expect(replies[0]).toMatchObject({ text: 'Fake reply to: hello from the new workspace', delivery_status: 'sent' })
    const [inbound] = await sql<{ tenant_id: string }>('select tenant_id from app.messages where external_id = $1', [
      `${channel}:${ts}`,
    ])
    expect(inbound!.tenant_id).toBe(tenantId)

    const calls = slack.requests.filter((r) => (r.body as Record<string, unknown> | null)?.['channel'] === channel)
    expect(calls.length).toBeGreaterThan(0)
    expect(new Set(calls.map((r) => r.headers['authorization']))).toEqual(new Set([`Bearer ${INSTALLED_TOKEN}`]))
    const inChannel = slack.messages.filter((m) => m.channel === channel)
    expect(inChannel).toHaveLength(1)
    expect(inChannel[0]).toMatchObject({ threadTs: ts, text: 'Fake reply to: hello from the new workspace' })
  })
})

describe('Slack buttons through the worker', () => {
  const AGENT = '20000000-0000-4000-8000-000000000001'

  async function click(
    message: { ts: string; text: string; blocks: unknown },
    value: string,
    actionId: string,
    thread: string,
    trigger: string,
    user = 'U0ALICE',
  ) {
    const payload = {
      type: 'block_actions',
      user: { id: user, team_id: DEMO_TEAM },
      team: { id: DEMO_TEAM },
      container: { type: 'message', channel_id: 'C0E2EBUTTONS', message_ts: message.ts, thread_ts: thread },
      message: { type: 'message', ts: message.ts, thread_ts: thread, text: message.text, blocks: message.blocks },
      trigger_id: trigger,
      response_url: 'https://hooks.slack.invalid/actions/x',
      actions: [{ action_id: actionId, block_id: 'b', type: 'button', value, action_ts: `${Date.now() / 1000}` }],
    }
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
    return fetch(fn('slack-interactions'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...signSlackRequest(SIGNING_SECRET, body) },
      body,
    })
  }

  /** Runs a test with the demo agent allowed to POST to api.example.com (a side effect to confirm). */
  async function withOrderApi(run: () => Promise<void>) {
    await sql(
      `update app.agents set tools = tools || '{"http_request": {"allowed_hosts": ["api.example.com"], "allowed_methods": ["GET", "POST"]}}'::jsonb
       where id = $1`,
      [AGENT],
    )
    try {
      await run()
    } finally {
      await sql(`update app.agents set tools = tools - 'http_request' where id = $1`, [AGENT])
    }
  }

  test('a click answers once and takes the buttons away; a second click changes nothing', async () => {
    await withOrderApi(async () => {
      openai.enqueue({
        toolCalls: [
          { name: 'http_request', arguments: { url: 'https://api.example.com/orders', method: 'POST', body: '{}' } },
        ],
      })
      const channel = 'C0E2EBUTTONS'
      const ts = slackTs()
      const envelope = slackEventEnvelope(
        {
          type: 'app_mention',
          user: 'U0ALICE',
          text: `<@${DEMO_BOT}> please place a new order`,
          ts,
          channel,
          event_ts: ts,
        },
        { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
      )
      expect((await postSlack(JSON.stringify(envelope))).status).toBe(200)
      const [ask] = await settledReplies(`${channel}:${ts}`, 'the confirmation request')
      const toolCallId = ask!.metadata['confirmation']['tool_call_id'] as string
      const asked = slack.messages.find((m) => m.channel === channel && m.ts === ask!.external_id)!
      expect(JSON.stringify(asked.blocks)).toContain(`cancel:${toolCallId}`)

      // "Cancel": the answer is recorded and the buttons become a line saying so.
      expect((await click(asked, `cancel:${toolCallId}`, 'konstruct_cancel', ts, 'trigger-e2e-1')).status).toBe(200)
      expect(JSON.stringify(asked.blocks)).not.toContain('"actions"')
      expect(JSON.stringify(asked.blocks)).toContain('<@U0ALICE> cancelled.')
      expect(asked.history.at(-1)).toBe(asked.history.at(-2)) // the words stay; only the buttons go
      const replies = await until(async () => {
        const rows = await settledReplies(`${channel}:${ts}`, 'the answer after cancelling')
        return rows.length === 2 ? rows : undefined
      }, 'two replies')
      expect(replies[1]!.delivery_status).toBe('sent')
      const [decided] = await sql<{ status: string }>('select status from app.tool_calls where id = $1', [toolCallId])
      expect(decided!.status).toBe('cancelled')

      // A second click, on the other button of the same (stale) message: nothing happens.
      const updatesBefore = slack.calls('chat.update').length
      expect((await click(asked, `confirm:${toolCallId}`, 'konstruct_confirm', ts, 'trigger-e2e-2')).status).toBe(200)
      const answers = await sql<{ text: string }>(
        `select m.text from app.messages m join app.conversations c on c.id = m.conversation_id
         where c.thread_key = $1 and m.direction = 'in' and m.text like '%:' || $2`,
        [`${channel}:${ts}`, toolCallId],
      )
      expect(answers).toEqual([{ text: `cancel:${toolCallId}` }])
      expect(slack.calls('chat.update').length).toBe(updatesBefore)
      expect((await sql<{ n: number }>('select count(*)::int as n from pgmq.q_agent_jobs'))[0]!.n).toBe(0)
      expect((await repliesTo(`${channel}:${ts}`)).length).toBe(2)
      expect(
        (await sql<{ status: string }>('select status from app.tool_calls where id = $1', [toolCallId]))[0]!.status,
      ).toBe('cancelled')
    })
  })
  test('in a thread of two people, only the person asked can confirm: another person\'s click and "yes" change nothing', async () => {
    await withOrderApi(async () => {
      openai.enqueue({
        toolCalls: [
          { name: 'http_request', arguments: { url: 'https://api.example.com/refunds', method: 'POST', body: '{}' } },
        ],
      })
      const channel = 'C0E2EBUTTONS' // the channel click() answers in
      const ts = slackTs()
      const mention = slackEventEnvelope(
        { type: 'app_mention', user: 'U0ALICE', text: `<@${DEMO_BOT}> refund my order`, ts, channel, event_ts: ts },
        { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
      )
      expect((await postSlack(JSON.stringify(mention))).status).toBe(200)
      const [ask] = await settledReplies(`${channel}:${ts}`, 'the confirmation request to Alice')
      const toolCallId = ask!.metadata['confirmation']['tool_call_id'] as string
      const asked = slack.messages.find((m) => m.channel === channel && m.ts === ask!.external_id)!
      const status = async () =>
        (await sql<{ status: string }>('select status from app.tool_calls where id = $1', [toolCallId]))[0]!.status
      expect(await status()).toBe('awaiting_confirmation')

      // Bob, in the same thread, clicks Confirm and then types "yes": each is stored as his own
      // message, the worker takes each up, and Alice's refund still waits for her.
      const inbound = async (n: number, what: string) => {
        await until(async () => {
          const [row] = await sql<{ n: number }>(
            `select count(*)::int as n from app.messages m join app.conversations c on c.id = m.conversation_id
             where c.thread_key = $1 and m.direction = 'in'`,
            [`${channel}:${ts}`],
          )
          return row!.n === n ? true : undefined
        }, what)
        await settledReplies(`${channel}:${ts}`, `${what}, taken up by the worker`)
      }
      expect(
        (await click(asked, `confirm:${toolCallId}`, 'konstruct_confirm', ts, 'trigger-bob-1', 'U0BOB')).status,
      ).toBe(200)
      await inbound(2, "Bob's click")
      expect(await status()).toBe('awaiting_confirmation')
      const bobTs = slackTs()
      const bobYes = slackEventEnvelope(
        { type: 'message', user: 'U0BOB', text: 'yes', ts: bobTs, thread_ts: ts, channel, event_ts: bobTs },
        { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
      )
      expect((await postSlack(JSON.stringify(bobYes))).status).toBe(200)
      await inbound(3, 'Bob\'s "yes"')
      expect(await status()).toBe('awaiting_confirmation')
      expect(JSON.stringify(asked.blocks)).toContain(`confirm:${toolCallId}`)

      // Alice's own click decides it.
      expect((await click(asked, `cancel:${toolCallId}`, 'konstruct_cancel', ts, 'trigger-alice-1')).status).toBe(200)
      await until(async () => ((await status()) === 'cancelled' ? true : undefined), "Alice's answer")
      expect(JSON.stringify(asked.blocks)).toContain('<@U0ALICE> cancelled.')
      const authors = await sql<{ external_user_id: string; text: string }>(
        `select ci.external_user_id, m.text from app.messages m
         join app.conversations c on c.id = m.conversation_id
         join app.contact_identities ci on ci.contact_id = m.author_contact_id and ci.channel = 'slack'
         where c.thread_key = $1 and m.direction = 'in' order by m.seq`,
        [`${channel}:${ts}`],
      )
      expect(authors.map((a) => a.external_user_id)).toEqual(['U0ALICE', 'U0BOB', 'U0BOB', 'U0ALICE'])
    })
  })
})

describe('WhatsApp through the worker', () => {
  test('a message delivered three times is answered exactly once, to the sender', async () => {
    const from = '4915100002222'
    const messageId = `wamid.e2e-${Date.now()}`
    const body = JSON.stringify(
      whatsAppTextWebhook({
        phoneNumberId: PHONE,
        from,
        text: 'Can I change my delivery address?',
        messageId,
        name: 'Jonas',
      }),
    )
    for (let i = 0; i < 3; i++) expect((await postWhatsApp(body)).status).toBe(200)

    const replies = await settledReplies(messageId, 'the WhatsApp reply')
    expect(replies).toHaveLength(1)
    expect(replies[0]).toMatchObject({
      text: 'Fake reply to: Can I change my delivery address?',
      delivery_status: 'sent',
    })

    const toSender = wa.sent.filter((m) => m.to === from)
    expect(toSender).toHaveLength(1)
    expect(toSender[0]).toMatchObject({ phoneNumberId: PHONE, type: 'text', messageId: replies[0]!.external_id })
    expect(toSender[0]!.body['text']).toMatchObject({ body: 'Fake reply to: Can I change my delivery address?' })
  })

  test('more than 24 hours after the customer last wrote, the approved template goes out instead', async () => {
    const from = '4915100003333'
    const messageId = `wamid.e2e-window-${Date.now()}`
    await stack.db.pg.query(
      `update app.channel_connections set settings = settings || '{"whatsapp_template": {"name": "reply_waiting", "language_code": "en"}}'::jsonb
       where id = $1`,
      [DEMO_WA],
    )
    // The message is stored while the worker sleeps, and the customer's last word is then
    // moved back 25 hours: the answer is due outside the customer-service window.
    // (Without the Vault konstruct_functions_url neither pg_net nor the safety net wakes the worker.)
    await setWakeUps(false)
    try {
      const body = JSON.stringify(
        whatsAppTextWebhook({ phoneNumberId: PHONE, from, text: 'Are you still there?', messageId }),
      )
      expect((await postWhatsApp(body)).status).toBe(200)
      await stack.db.pg.query(
        `update app.conversations c set last_inbound_at = now() - interval '25 hours'
         from app.messages m where m.external_id = $1 and m.conversation_id = c.id`,
        [messageId],
      )
    } finally {
      await setWakeUps(true)
    }
    await stack.db.asOwner(async (tx) => {
      await tx.query(`select app.wake_agent_worker('test')`)
    })

    const replies = await settledReplies(messageId, 'the reply outside the window')
    expect(replies).toHaveLength(1)
    expect(replies[0]!.delivery_status).toBe('sent')
    const toSender = wa.sent.filter((m) => m.to === from)
    expect(toSender.map((m) => m.type)).toEqual(['template'])
    expect(toSender[0]!.body['template']).toMatchObject({ name: 'reply_waiting', language: { code: 'en' } })
    expect(replies[0]!.external_id).toBe(toSender[0]!.messageId)
  })
})

describe('a workspace over its plan', () => {
  test('Slack and WhatsApp senders get a polite notice in place of an answer, once, with no model call', async () => {
    const TENANT = '10000000-0000-4000-8000-000000000001'
    const [before] = await sql<{ plan_key: string }>('select plan_key from app.subscriptions where tenant_id = $1', [
      TENANT,
    ])
    await sql(
      `insert into app.plans (key, name, description, included_agents, monthly_messages, monthly_tokens, channels,
         trial_days, price_per_agent_cents, price_per_1k_tokens_cents, is_public, sort_order)
       values ('e2e_tiny', 'Tiny', 'One message a month', 3, 1, null, array['web_chat', 'slack', 'whatsapp'], 0, 0, 0, false, 99)
       on conflict (key) do nothing`,
    )
    await sql(`update app.subscriptions set plan_key = 'e2e_tiny' where tenant_id = $1`, [TENANT])
    try {
      const modelCalls = openai.chatRequests().length
      const channel = 'C0E2EOVERPLAN'
      const ts = slackTs()
      const envelope = slackEventEnvelope(
        { type: 'app_mention', user: 'U0ALICE', text: `<@${DEMO_BOT}> are you there?`, ts, channel, event_ts: ts },
        { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
      )
      expect(await deliverThreeTimes(JSON.stringify(envelope))).toEqual([200, 200, 200])
      const from = '4915100004444'
      const messageId = `wamid.e2e-overplan-${Date.now()}`
      const body = JSON.stringify(whatsAppTextWebhook({ phoneNumberId: PHONE, from, text: 'Hello?', messageId }))
      for (let i = 0; i < 3; i++) expect((await postWhatsApp(body)).status).toBe(200)

      const slackNotice = await settledReplies(`${channel}:${ts}`, 'the notice on Slack')
      const waNotice = await settledReplies(messageId, 'the notice on WhatsApp')
      for (const replies of [slackNotice, waNotice]) {
        expect(replies).toHaveLength(1)
        expect(replies[0]!.delivery_status).toBe('sent')
        expect(replies[0]!.text).toMatch(/^Sorry, I can't answer right now because this workspace has used everything/)
      }
      const onSlack = slack.messages.filter((m) => m.channel === channel)
      expect(onSlack).toHaveLength(1)
      expect(onSlack[0]!.threadTs).toBe(ts)
      expect(onSlack[0]!.text).toContain("Sorry, I can't answer right now")
      const onWhatsApp = wa.sent.filter((m) => m.to === from)
      expect(onWhatsApp).toHaveLength(1)
      expect(JSON.stringify(onWhatsApp[0]!.body)).toContain("Sorry, I can't answer right now")
      expect(openai.chatRequests().length).toBe(modelCalls)
    } finally {
      await sql(`update app.subscriptions set plan_key = $2 where tenant_id = $1`, [TENANT, before!.plan_key])
    }
  })
})

describe('Slack names through the worker', () => {
  const mention = async (channel: string, user: string, text: string) => {
    const ts = slackTs()
    const envelope = slackEventEnvelope(
      { type: 'app_mention', user, text: `<@${DEMO_BOT}> ${text}`, ts, channel, event_ts: ts },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSlack(JSON.stringify(envelope))).status).toBe(200)
    return settledReplies(`${channel}:${ts}`, `the reply to ${text}`)
  }
  const contactOf = async (user: string) =>
    (
      await sql<{ name: string | null; avatar: string | null; identity_name: string | null; fetched: boolean }>(
        `select c.display_name as name, c.avatar_url as avatar, i.display_name as identity_name,
           i.profile_fetched_at is not null as fetched
         from app.contact_identities i join app.contacts c on c.id = i.contact_id
         where i.channel = 'slack' and i.external_user_id = $1`,
        [user],
      )
    )[0]
  const infoCallsFor = (user: string) =>
    slack.calls('users.info').filter((r) => (r.body as Record<string, unknown>)['user'] === user)

  test('a Slack user is named once from users.info, after the reply, and not looked up again', async () => {
    slack.addUser('U0GRACE', {
      handle: 'grace',
      realName: 'Grace Hopper',
      displayName: 'Grace H',
      image: 'https://avatars.slack-edge.com/2026-01-01/grace_72.png',
    })
    const [reply] = await mention('C0NAMES', 'U0GRACE', 'who am I?')
    expect(reply!.delivery_status).toBe('sent')
    await until(async () => ((await contactOf('U0GRACE'))?.name ? true : undefined), 'the Slack name')
    expect(await contactOf('U0GRACE')).toEqual({
      name: 'Grace H',
      avatar: 'https://avatars.slack-edge.com/2026-01-01/grace_72.png',
      identity_name: 'Grace H',
      fetched: true,
    })
    expect(infoCallsFor('U0GRACE')).toHaveLength(1)
    expect(infoCallsFor('U0GRACE')[0]!.headers['authorization']).toBe(`Bearer ${DEMO_SLACK_TOKEN}`)

    // A second thread: the cached name, no second lookup.
    await mention('C0NAMES', 'U0GRACE', 'and now?')
    expect(infoCallsFor('U0GRACE')).toHaveLength(1)
  })

  test('a Slack user first seen replying inside an existing thread is named too, once', async () => {
    slack.addUser('U0LIN', {
      handle: 'lin',
      realName: 'Lin Wei',
      displayName: 'Lin',
      image: 'https://avatars.slack-edge.com/2026-01-01/lin_72.png',
    })
    const channel = 'C0JOINED'
    const ts = slackTs()
    const opened = slackEventEnvelope(
      { type: 'app_mention', user: 'U0HOST', text: `<@${DEMO_BOT}> can someone help?`, ts, channel, event_ts: ts },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSlack(JSON.stringify(opened))).status).toBe(200)
    await settledReplies(`${channel}:${ts}`, 'the reply that opens the thread')
    // Lin joins the thread: the conversation exists already, Lin is new.
    for (const text of ['I have the same question', 'any news?']) {
      const replyTs = slackTs()
      const joined = slackEventEnvelope(
        {
          type: 'app_mention',
          user: 'U0LIN',
          text: `<@${DEMO_BOT}> ${text}`,
          ts: replyTs,
          thread_ts: ts,
          channel,
          event_ts: replyTs,
        },
        { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
      )
      expect((await postSlack(JSON.stringify(joined))).status).toBe(200)
      await settledReplies(`${channel}:${replyTs}`, `the reply to Lin's "${text}"`)
      await until(async () => ((await contactOf('U0LIN'))?.name ? true : undefined), "Lin's Slack name")
    }
    expect(await contactOf('U0LIN')).toEqual({
      name: 'Lin',
      avatar: 'https://avatars.slack-edge.com/2026-01-01/lin_72.png',
      identity_name: 'Lin',
      fetched: true,
    })
    expect(infoCallsFor('U0LIN')).toHaveLength(1)
    expect(infoCallsFor('U0HOST')).toHaveLength(1)
  })

  test('a lookup Slack refuses leaves the name unknown and never blocks the reply', async () => {
    const [reply] = await mention('C0NONAME', 'U0NOBODY', 'hello?')
    expect(reply!.delivery_status).toBe('sent')
    await until(async () => ((await contactOf('U0NOBODY'))?.fetched ? true : undefined), 'the lookup recorded')
    expect(infoCallsFor('U0NOBODY')).toHaveLength(1)
    expect(await contactOf('U0NOBODY')).toMatchObject({ name: null, avatar: null, fetched: true })
  })
})
