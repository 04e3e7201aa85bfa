// WhatsApp on the local stack: the real whatsapp-webhook function under Deno, signed with
// node:crypto like Meta; outbound delivery against the fake Cloud API, with its progress
// recorded in the database.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  signWhatsAppBody,
  startFakeWhatsApp,
  whatsAppStatusWebhook,
  whatsAppTextWebhook,
  type FakeWhatsApp,
} from '../fakes/fake-whatsapp.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { createAgentStore } from '../../shared/agent/store.ts'
import { proveWhatsAppControl } from '../../shared/agent/worker/jobs/verify-whatsapp-channel.ts'
import { createApi, type Api } from '../../shared/api/client.ts'
import { rpcProgressStore } from '../../shared/channels/delivery/progress.ts'
import {
  deliverWhatsAppReply,
  markWhatsAppRead,
  NO_TEMPLATE_REASON,
  whatsAppTemplateOf,
} from '../../shared/channels/delivery/whatsapp.ts'
import { readConnectionSettings } from '../../shared/channels/settings.ts'

const APP_SECRET = 'whatsapp-app-secret-for-tests'
const VERIFY_TOKEN = 'whatsapp-verify-token-for-tests'
const PHONE = '100000000000001'
const DEMO_WA = '30000000-0000-4000-8000-000000000003'
const TENANT = '10000000-0000-4000-8000-000000000001'

let stack: TestStack
let wa: FakeWhatsApp
let rpc: Api

beforeAll(async () => {
  wa = await startFakeWhatsApp({ accessToken: 'EAAG-konstruct-placeholder' })
  stack = await startTestStack({
    functionEnv: { WHATSAPP_APP_SECRET: APP_SECRET, WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN, WHATSAPP_API_URL: wa.url },
  })
  // These tests look at what the channel functions store and send; the agent worker (tested
  // on its own) is not woken, so it cannot add replies or consume jobs underneath them.
  await setWakeUps(stack, false)
  rpc = createApi({ url: stack.url, key: stack.keys.secretKey })
})
afterAll(async () => {
  await stack?.close()
  await wa?.close()
})

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}
const count = async (table: string) => (await sql<{ n: number }>(`select count(*)::int as n from ${table}`))[0]!.n
const url = (query = '') => `${stack.url}/functions/v1/whatsapp-webhook${query}`

async function postSigned(body: string, signature = signWhatsAppBody(APP_SECRET, body)) {
  return fetch(url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    body,
  })
}

describe('whatsapp-webhook', () => {
  test('the GET handshake echoes the challenge only for our verify token', async () => {
    const ok = await fetch(url(`?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`))
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('1158201444')
    const wrong = await fetch(url('?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444'))
    expect(wrong.status).toBe(403)
    expect(await wrong.text()).not.toContain('1158201444')
  })

  test('a signed message is ingested once and enqueued once, even delivered three times', async () => {
    const body = JSON.stringify(
      whatsAppTextWebhook({
        phoneNumberId: PHONE,
        from: '4915112345678',
        text: 'Do you ship to Austria?',
        name: 'Mia',
      }),
    )
    const jobs = await count('pgmq.q_agent_jobs')
    for (let i = 0; i < 3; i++) expect((await postSigned(body)).status).toBe(200)
    const rows = await sql<{ text: string; thread_key: string; display_name: string }>(
      `select m.text, c.thread_key, ct.display_name from app.messages m
       join app.conversations c on c.id = m.conversation_id join app.contacts ct on ct.id = c.contact_id
       where m.connection_id = $1 and m.text = 'Do you ship to Austria?'`,
      [DEMO_WA],
    )
    expect(rows).toEqual([{ text: 'Do you ship to Austria?', thread_key: '4915112345678', display_name: 'Mia' }])
    expect(await count('pgmq.q_agent_jobs')).toBe(jobs + 1)
  })

  test("the contact takes the sender's WhatsApp profile name, even when it only comes with a later message", async () => {
    const from = '4915100000077'
    const contactName = async () =>
      (
        await sql<{ name: string | null }>(
          `select c.display_name as name from app.contact_identities i join app.contacts c on c.id = i.contact_id
           where i.channel = 'whatsapp' and i.external_user_id = $1`,
          [from],
        )
      )[0]?.name
    const post = (text: string, name: string | null) => {
      const payload = whatsAppTextWebhook({ phoneNumberId: PHONE, from, text, name: name ?? undefined })
      if (name === null) delete (payload.entry[0]!.changes[0]!.value as Record<string, unknown>)['contacts']
      return postSigned(JSON.stringify(payload))
    }
    expect((await post('First, without a profile', null)).status).toBe(200)
    expect(await contactName()).toBeNull()
    expect((await post('Now with one', 'Lena Vogel')).status).toBe(200)
    expect(await contactName()).toBe('Lena Vogel')
    // An admin's name is kept when the profile changes.
    await stack.db.pg.query(
      `update app.contacts set display_name = 'Lena V. (wholesale)' where id =
         (select contact_id from app.contact_identities where channel = 'whatsapp' and external_user_id = $1)`,
      [from],
    )
    expect((await post('Profile renamed', 'lena')).status).toBe(200)
    expect(await contactName()).toBe('Lena V. (wholesale)')
  })

  test('interactive replies and media captions are ingested; a confirm button carries its id', async () => {
    const payload = whatsAppTextWebhook({ phoneNumberId: PHONE, from: '4915100000001', text: 'x' })
    const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>
    const toolCallId = '99999999-0000-4000-8000-000000000009'
    value['messages'] = [
      {
        from: '4915100000001',
        id: 'wamid.interactive-1',
        timestamp: String(Math.floor(Date.now() / 1000)),
        type: 'interactive',
        interactive: { type: 'button_reply', button_reply: { id: `confirm:${toolCallId}`, title: 'Yes, go ahead' } },
      },
      {
        from: '4915100000001',
        id: 'wamid.image-1',
        timestamp: String(Math.floor(Date.now() / 1000)),
        type: 'image',
        image: { id: 'media-1', mime_type: 'image/jpeg', caption: 'Is this the broken part?' },
      },
    ]
    expect((await postSigned(JSON.stringify(payload))).status).toBe(200)
    const rows = await sql<{ external_id: string; text: string; attachments: unknown[] }>(
      `select external_id, text, attachments from app.messages where external_id in ('wamid.interactive-1', 'wamid.image-1') order by external_id`,
    )
    expect(rows[0]).toMatchObject({ external_id: 'wamid.image-1', text: 'Is this the broken part?' })
    expect(rows[0]!.attachments).toEqual([expect.objectContaining({ type: 'image', whatsapp_media_id: 'media-1' })])
    expect(rows[1]).toMatchObject({ external_id: 'wamid.interactive-1', text: `confirm:${toolCallId}` })
  })

  test('status updates move the stored delivery status forward, never back', async () => {
    const { data: found } = await stack
      .serviceClient()
      .rpc('find_conversation', { connection_id: DEMO_WA, thread_key: '4915112345678' })
    const { data: reply } = await stack.serviceClient().rpc('record_reply', {
      tenant_id: TENANT,
      conversation_id: found.conversation_id,
      text: 'Yes!',
      idempotency_key: 'wa-status-test',
    })
    await stack.serviceClient().rpc('set_delivery_status', {
      tenant_id: TENANT,
      message_id: reply.message_id,
      status: 'sent',
      external_id: 'wamid.out-1',
    })
    const status = async () =>
      (
        await sql<{ delivery_status: string }>('select delivery_status from app.messages where id = $1', [
          reply.message_id,
        ])
      )[0]!.delivery_status
    for (const [next, expected] of [
      ['delivered', 'delivered'],
      ['read', 'read'],
      ['delivered', 'read'],
    ] as const) {
      const body = JSON.stringify(
        whatsAppStatusWebhook({
          phoneNumberId: PHONE,
          messageId: 'wamid.out-1',
          recipientId: '4915112345678',
          status: next,
        }),
      )
      expect((await postSigned(body)).status).toBe(200)
      expect(await status()).toBe(expected)
    }
  })

  test('a bad signature is an opaque 401 and stores nothing; unknown numbers 200 and nothing stored; junk 400', async () => {
    const before = await count('app.messages')
    const body = JSON.stringify(whatsAppTextWebhook({ phoneNumberId: PHONE, from: '4915199999999', text: 'forged' }))
    expect((await postSigned(body, signWhatsAppBody('wrong-secret', body))).status).toBe(401)
    expect((await postSigned(body.replace('forged', 'forgeD'), signWhatsAppBody(APP_SECRET, body))).status).toBe(401)
    const unsigned = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect(unsigned.status).toBe(401)
    expect(await unsigned.text()).toBe('unauthorized')
    const unknown = JSON.stringify(
      whatsAppTextWebhook({ phoneNumberId: '999999999999999', from: '4915199999999', text: 'hello?' }),
    )
    expect((await postSigned(unknown)).status).toBe(200)
    expect((await postSigned('{"object": ')).status).toBe(400)
    expect(await count('app.messages')).toBe(before)
  })
})

describe('WhatsApp delivery', () => {
  async function reply(customer: string, text: string, key: string, lastInboundHoursAgo = 0) {
    const body = JSON.stringify(
      whatsAppTextWebhook({ phoneNumberId: PHONE, from: customer, text: `question from ${customer}` }),
    )
    expect((await postSigned(body)).status).toBe(200)
    const { data: conversation } = await stack
      .serviceClient()
      .rpc('find_conversation', { connection_id: DEMO_WA, thread_key: customer })
    if (lastInboundHoursAgo) {
      await sql(`update app.conversations set last_inbound_at = now() - make_interval(hours => $2) where id = $1`, [
        conversation.conversation_id,
        lastInboundHoursAgo,
      ])
    }
    const { data } = await stack.serviceClient().rpc('record_reply', {
      tenant_id: TENANT,
      conversation_id: conversation.conversation_id,
      text,
      idempotency_key: key,
    })
    const delivery = await rpc<{ last_inbound_at: string; connection_settings: unknown }>('get_outbound_delivery', {
      tenant_id: TENANT,
      message_id: data.message_id,
    })
    return {
      messageId: data.message_id as string,
      lastInboundAt: new Date(delivery.last_inbound_at),
      settings: delivery.connection_settings,
    }
  }
  const client = () => ({ accessToken: 'EAAG-konstruct-placeholder', apiUrl: wa.url })

  test('inside the window: formatted text to the customer, sent once even when the worker retries', async () => {
    const { messageId, lastInboundAt } = await reply(
      '4915100000100',
      'Yes, **we do**. Shipping takes 2 days.',
      'wa-d-1',
    )
    const input = {
      whatsapp: client(),
      phoneNumberId: PHONE,
      to: '4915100000100',
      message: { id: messageId, text: 'Yes, **we do**. Shipping takes 2 days.' },
      progress: rpcProgressStore(rpc, TENANT, messageId),
      lastInboundAt,
      now: new Date(),
    }
    const first = await deliverWhatsAppReply(input)
    const second = await deliverWhatsAppReply(input)
    expect(first).toMatchObject({ outcome: 'sent', via: 'text', resumed: false })
    expect(second).toMatchObject({
      outcome: 'sent',
      resumed: true,
      externalId: (first as { externalId: string }).externalId,
    })
    const sent = wa.sent.filter((m) => m.to === '4915100000100')
    expect(sent).toHaveLength(1)
    expect((sent[0]!.body['text'] as { body: string }).body).toBe('Yes, *we do*. Shipping takes 2 days.')
    expect(
      await markWhatsAppRead({ whatsapp: client(), phoneNumberId: PHONE, messageId: 'wamid.any', showTyping: true }),
    ).toBe(true)
    expect(wa.readReceipts.at(-1)).toEqual({ phoneNumberId: PHONE, messageId: 'wamid.any' })
  })

  test("a throttling error asks for a retry after Meta's delay, and the retry sends exactly once", async () => {
    const { messageId, lastInboundAt } = await reply('4915100000200', 'Thanks for waiting!', 'wa-d-2')
    const input = {
      whatsapp: client(),
      phoneNumberId: PHONE,
      to: '4915100000200',
      message: { id: messageId, text: 'Thanks for waiting!' },
      progress: rpcProgressStore(rpc, TENANT, messageId),
      lastInboundAt,
      now: new Date(),
    }
    wa.failNext({ kind: 'graph_error', code: 130429 })
    expect(await deliverWhatsAppReply(input)).toMatchObject({ outcome: 'retry', retryAfterMs: 2000 })
    expect(await deliverWhatsAppReply(input)).toMatchObject({ outcome: 'sent' })
    expect(wa.sent.filter((m) => m.to === '4915100000200')).toHaveLength(1)
  })

  test('outside the 24-hour window: the approved template once, or undeliverable with the reason', async () => {
    const late = await reply('4915100000300', 'Your order shipped.', 'wa-d-3', 30)
    const template = whatsAppTemplateOf(
      readConnectionSettings({ whatsapp_template: { name: 'reply_waiting', language_code: 'en' } }).settings,
    )
    const base = {
      whatsapp: client(),
      phoneNumberId: PHONE,
      to: '4915100000300',
      message: { id: late.messageId, text: 'Your order shipped.' },
      progress: rpcProgressStore(rpc, TENANT, late.messageId),
      lastInboundAt: late.lastInboundAt,
      now: new Date(),
    }
    expect(await deliverWhatsAppReply({ ...base, template })).toMatchObject({ outcome: 'sent', via: 'template' })
    expect(await deliverWhatsAppReply({ ...base, template })).toMatchObject({
      outcome: 'sent',
      via: 'template',
      resumed: true,
    })
    const sent = wa.sent.filter((m) => m.to === '4915100000300')
    expect(sent.map((m) => m.type)).toEqual(['template'])
    expect(sent[0]!.body['template']).toMatchObject({ name: 'reply_waiting', language: { code: 'en' } })

    const none = await reply('4915100000400', 'Your order shipped.', 'wa-d-4', 30)
    const outcome = await deliverWhatsAppReply({
      ...base,
      to: '4915100000400',
      message: { id: none.messageId, text: 'Your order shipped.' },
      progress: rpcProgressStore(rpc, TENANT, none.messageId),
      lastInboundAt: none.lastInboundAt,
      template: whatsAppTemplateOf(readConnectionSettings(none.settings).settings),
    })
    expect(outcome).toEqual({ outcome: 'undeliverable', reason: NO_TEMPLATE_REASON })
    expect(wa.sent.filter((m) => m.to === '4915100000400')).toHaveLength(0)
  })

  test('delivery progress belongs to its tenant: another tenant id is refused', async () => {
    const { messageId } = await reply('4915100000500', 'hi', 'wa-d-5')
    await expect(
      rpc('get_outbound_delivery', { tenant_id: '10000000-0000-4000-8000-0000000000ff', message_id: messageId }),
    ).rejects.toMatchObject({ code: '42501' })
    await expect(
      rpc('record_delivery_progress', {
        tenant_id: '10000000-0000-4000-8000-0000000000ff',
        message_id: messageId,
        progress: { x: 1 },
      }),
    ).rejects.toMatchObject({ code: '42501' })
  })
})

describe('WhatsApp numbers belong to whoever proves control of them', () => {
  const NUMBER = '100000000000555'
  const VICTIM_WABA = '300000000000555'
  const ATTACKER_WABA = '300000000000666'

  async function tenantWithAgent(label: string) {
    const user = await stack.newUser(label)
    const tenant = await call<{ id: string }>(user.client, 'create_tenant', { name: `${label} Co` })
    const agent = await call<{ id: string }>(user.client, 'deploy_agent_template', {
      tenant_id: tenant.id,
      template_key: 'customer_support_rep',
    })
    return { client: user.client, tenantId: tenant.id, agentId: agent.id }
  }

  async function call<T>(client: ReturnType<TestStack['serviceClient']>, fn: string, args: Record<string, unknown>) {
    const { data, error } = await client.rpc(fn, args)
    if (error) throw Object.assign(new Error(error.message), { code: error.code })
    return data as T
  }

  /** What the worker does for a verify_whatsapp_channel job, against the fake Graph API. */
  async function prove(connectionId: string) {
    const [job] = await sql<{ message: Record<string, string> }>(
      `select message from pgmq.q_agent_jobs where message ->> 'kind' = 'verify_whatsapp_channel'
         and message ->> 'connection_id' = $1 order by msg_id desc limit 1`,
      [connectionId],
    )
    expect(job).toBeDefined()
    const store = createAgentStore(rpc)
    return proveWhatsAppControl(job!.message as never, {
      getChannelToken: (id) => store.getChannelToken(id),
      confirm: (input) => store.confirmWhatsAppChannel(input),
      whatsappApiUrl: wa.url,
    })
  }

  async function deliver(wabaId: string, customer: string) {
    const messageId = `wamid.own-${customer}-${Date.now()}`
    const body = JSON.stringify(
      whatsAppTextWebhook({ phoneNumberId: NUMBER, wabaId, from: customer, text: 'hello', messageId }),
    )
    expect((await postSigned(body)).status).toBe(200)
    return await sql<{ tenant_id: string }>(`select tenant_id from app.messages where external_id = $1`, [messageId])
  }

  test('a tenant that cannot prove control neither locks the owner out nor receives its customers', async () => {
    wa.addBusinessAccount({
      id: VICTIM_WABA,
      tokens: ['EAAG-victim-token'],
      phoneNumbers: [{ id: NUMBER, displayPhoneNumber: '+1 555 010 0555' }],
    })
    wa.addBusinessAccount({ id: ATTACKER_WABA, tokens: ['EAAG-attacker-token'], phoneNumbers: [] })
    const attacker = await tenantWithAgent('squatter')
    const victim = await tenantWithAgent('number-owner')

    // 1. The squatter claims the business's number with the business's account id and its own token.
    const claim = await call<{ id: string; whatsapp_verified: boolean }>(attacker.client, 'create_whatsapp_channel', {
      tenant_id: attacker.tenantId,
      name: 'Not mine',
      phone_number_id: NUMBER,
      business_account_id: VICTIM_WABA,
      access_token: 'EAAG-attacker-token',
      agent_id: attacker.agentId,
    })
    expect(claim.whatsapp_verified).toBe(false)
    expect(await prove(claim.id)).toBe('unproven:account_not_visible')
    // …and under its own account, which does not hold that number.
    const second = await call<{ id: string }>(attacker.client, 'create_whatsapp_channel', {
      tenant_id: attacker.tenantId,
      name: 'Still not mine',
      phone_number_id: NUMBER,
      business_account_id: ATTACKER_WABA,
      access_token: 'EAAG-attacker-token',
      agent_id: attacker.agentId,
    })
    expect(await prove(second.id)).toBe('unproven:not_controlled')

    // 2. The business's customers write: nothing reaches the squatter.
    expect(await deliver(VICTIM_WABA, '4915100005551')).toEqual([])
    expect(await deliver(ATTACKER_WABA, '4915100005552')).toEqual([])

    // 3. The real owner is not locked out: it connects, proves control, and receives its customers.
    const owned = await call<{ id: string }>(victim.client, 'create_whatsapp_channel', {
      tenant_id: victim.tenantId,
      name: 'Our number',
      phone_number_id: NUMBER,
      business_account_id: VICTIM_WABA,
      access_token: 'EAAG-victim-token',
      agent_id: victim.agentId,
    })
    expect(await prove(owned.id)).toBe('proven')
    expect(await deliver(VICTIM_WABA, '4915100005553')).toEqual([{ tenant_id: victim.tenantId }])
    // A delivery naming another business account for the same number routes nowhere.
    expect(await deliver(ATTACKER_WABA, '4915100005554')).toEqual([])

    // 4. Now the number is taken: a new claim is refused outright, and re-proving a squatter's
    //    old claim cannot take it over.
    await expect(
      call(attacker.client, 'create_whatsapp_channel', {
        tenant_id: attacker.tenantId,
        name: 'Again',
        phone_number_id: NUMBER,
        business_account_id: VICTIM_WABA,
        access_token: 'EAAG-attacker-token',
      }),
    ).rejects.toMatchObject({ code: '23505' })
    const [claimRow] = await sql<{ whatsapp_verified_at: string | null; whatsapp_verification_error: string }>(
      `select whatsapp_verified_at, whatsapp_verification_error from app.channel_connections where id = $1`,
      [claim.id],
    )
    expect(claimRow!.whatsapp_verified_at).toBeNull()
    expect(claimRow!.whatsapp_verification_error).toMatch(/cannot see that WhatsApp Business Account/)
  })
})

describe('text Postgres cannot store', () => {
  test('a NUL byte or half an emoji is stored cleaned, answered 200, never retried', async () => {
    const messageId = `wamid.nul-${Date.now()}`
    const body = JSON.stringify(
      whatsAppTextWebhook({
        phoneNumberId: PHONE,
        from: '4915100000999',
        text: 'null\u0000byte \ud83d end',
        messageId,
      }),
    )
    expect((await postSigned(body)).status).toBe(200)
    const rows = await sql<{ text: string }>(`select text from app.messages where external_id = $1`, [messageId])
    expect(rows).toEqual([{ text: 'nullbyte \ufffd end' }])
  })
})
