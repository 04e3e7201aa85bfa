// Typing indicators on the local stack, with the real supabase-js and Realtime's RLS check:
// a widget visitor and a member of the tenant see each other type on typing:<conversation>;
// another visitor and a member of another tenant cannot even join it. On WhatsApp a member
// typing queues the customer's typing indicator, which the real agent-worker (under Deno)
// sends to the fake Cloud API, at most once per 20 seconds.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { startTestStack, type ApiClient, type TestStack } from '../support/stack.ts'
import { testWorkerEnv } from '../support/worker-env.ts'
import { until } from '../support/until.ts'

const WIDGET = 'wk_demo_konstruct_widget_key'
const APP_SECRET = 'whatsapp-app-secret-for-typing-tests'
const PHONE = '100000000000001'
const DEMO_ADMIN = { email: 'admin@konstruct.local', password: 'konstruct-demo' }

let stack: TestStack
let wa: FakeWhatsApp

beforeAll(async () => {
  wa = await startFakeWhatsApp({ accessToken: 'EAAG-konstruct-placeholder' })
  stack = await startTestStack({
    functionEnv: {
      ...testWorkerEnv,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'verify-token-for-typing-tests',
      WHATSAPP_API_URL: wa.url,
    },
  })
})
afterAll(async () => {
  await stack?.close()
  await wa?.close()
})

function client(): ApiClient {
  return createClient(stack.url, stack.keys.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    db: { schema: 'api' },
  })
}

/** A widget visitor with a conversation: anonymous sign-in, then a message through web-chat. */
async function visitorWithConversation(): Promise<{ client: ApiClient; token: string; conversationId: string }> {
  const visitor = client()
  const { data, error } = await visitor.auth.signInAnonymously()
  if (error || !data.session) throw new Error(`anonymous sign-in failed: ${error?.message}`)
  const token = data.session.access_token
  const response = await fetch(`${stack.url}/functions/v1/web-chat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-widget-key': WIDGET },
    body: JSON.stringify({ text: 'Hello, is anyone there?' }),
  })
  const body = (await response.json()) as { conversation_id?: string }
  expect(response.status).toBe(202)
  expect(body.conversation_id).toMatch(/^[0-9a-f-]{36}$/)
  return { client: visitor, token, conversationId: body.conversation_id! }
}

async function member(): Promise<ApiClient> {
  const admin = client()
  const { error } = await admin.auth.signInWithPassword(DEMO_ADMIN)
  if (error) throw new Error(`sign-in failed: ${error.message}`)
  return admin
}

/** Joins typing:<id> as the client's user; the join status and what it receives. */
async function joinTyping(who: ApiClient, conversationId: string) {
  const { data } = await who.auth.getSession()
  if (data.session) await who.realtime.setAuth(data.session.access_token)
  const received: Array<Record<string, unknown>> = []
  const channel = who.channel(`typing:${conversationId}`, { config: { private: true } })
  channel.on('broadcast', { event: 'typing' }, (message) => received.push(message.payload as Record<string, unknown>))
  const status = await new Promise<string>((resolve) => {
    channel.subscribe((state) => {
      if (state !== 'CLOSED') resolve(state)
    })
    setTimeout(() => resolve('TIMED_OUT'), 10_000)
  })
  return {
    status,
    received,
    send: (payload: Record<string, unknown>) => channel.send({ type: 'broadcast', event: 'typing', payload }),
  }
}

describe('typing on web chat', () => {
  test('the visitor and a member see each other type; another visitor and another tenant cannot join', async () => {
    const visitor = await visitorWithConversation()
    const admin = await member()
    const visitorSide = await joinTyping(visitor.client, visitor.conversationId)
    const memberSide = await joinTyping(admin, visitor.conversationId)
    expect(visitorSide.status).toBe('SUBSCRIBED')
    expect(memberSide.status).toBe('SUBSCRIBED')

    expect(await visitorSide.send({ role: 'visitor' })).toBe('ok')
    await until(() => memberSide.received.length > 0, 'the member to see the visitor typing')
    expect(memberSide.received).toEqual([{ role: 'visitor' }])

    expect(await memberSide.send({ role: 'member', name: 'Demo Admin' })).toBe('ok')
    await until(() => visitorSide.received.length > 0, 'the visitor to see the member typing')
    expect(visitorSide.received).toEqual([{ role: 'member', name: 'Demo Admin' }])

    // Another visitor of the same widget, with a conversation of its own.
    const other = await visitorWithConversation()
    expect((await joinTyping(other.client, visitor.conversationId)).status).toBe('CHANNEL_ERROR')
    // It can still use its own conversation's topic.
    expect((await joinTyping(other.client, other.conversationId)).status).toBe('SUBSCRIBED')

    // The owner of another tenant.
    const stranger = await stack.newUser('typing-stranger')
    expect((await stranger.client.rpc('create_tenant', { name: 'Typing Stranger Co' })).error).toBeNull()
    expect((await joinTyping(stranger.client, visitor.conversationId)).status).toBe('CHANNEL_ERROR')

    // Nothing of theirs reached the conversation's parties.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(memberSide.received).toHaveLength(1)
    expect(visitorSide.received).toHaveLength(1)
    await Promise.all([visitor.client, admin, other.client, stranger.client].map((c) => c.removeAllChannels()))
  })
})

describe('typing on WhatsApp', () => {
  test("a member typing shows WhatsApp's typing indicator on the customer's last message, at most once per 20 s", async () => {
    const body = JSON.stringify(
      whatsAppTextWebhook({
        phoneNumberId: PHONE,
        from: '4915100000777',
        text: 'Can I change my delivery address?',
        messageId: 'wamid.typing-test-1',
        name: 'Lea',
      }),
    )
    const webhook = await fetch(`${stack.url}/functions/v1/whatsapp-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(APP_SECRET, body) },
      body,
    })
    expect(webhook.status).toBe(200)
    const [conversation] = (
      await stack.db.pg.query<{ id: string }>(
        `select conversation_id as id from app.messages where external_id = 'wamid.typing-test-1'`,
      )
    ).rows
    expect(conversation).toBeDefined()

    const admin = await member()
    const first = await admin.rpc('signal_typing', { conversation_id: conversation!.id })
    expect(first.error).toBeNull()
    expect(first.data).toEqual({ queued: true, outcome: 'queued' })
    await until(
      () => wa.typingIndicators.find((t) => t.messageId === 'wamid.typing-test-1'),
      'the typing indicator to reach WhatsApp',
    )
    expect(wa.typingIndicators.filter((t) => t.messageId === 'wamid.typing-test-1')).toEqual([
      { phoneNumberId: PHONE, messageId: 'wamid.typing-test-1' },
    ])

    // Keystrokes right after: nothing more is queued or sent.
    const again = await admin.rpc('signal_typing', { conversation_id: conversation!.id })
    expect(again.data).toEqual({ queued: false, outcome: 'throttled' })

    // A member of another tenant cannot use the conversation.
    const stranger = await stack.newUser('typing-wa-stranger')
    const refused = await stranger.client.rpc('signal_typing', { conversation_id: conversation!.id })
    expect(refused.error?.code).toBe('P0002')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(wa.typingIndicators.filter((t) => t.messageId === 'wamid.typing-test-1')).toHaveLength(1)
  })
})
