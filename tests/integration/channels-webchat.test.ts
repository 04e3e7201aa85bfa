// Web chat on the local stack: the real web-chat function under Deno, visitors signed in
// anonymously with the publishable key (their ES256 sessions verified by the function against
// the JWKS and authorized by RLS on Realtime), history, rate limits, and isolation between
// visitors and from the api.
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import { signLegacyJwt } from '../../local/keys.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { randomUUID } from 'node:crypto'
import { createApi } from '../../shared/api/client.ts'
import { createWebChatHandler } from '../../shared/channels/handlers/web-chat.ts'

const WIDGET = 'wk_demo_konstruct_widget_key'
const TENANT = '10000000-0000-4000-8000-000000000001'
const AGENT = '20000000-0000-4000-8000-000000000001'
const ADMIN = { email: 'admin@konstruct.local', password: 'konstruct-demo' }

let stack: TestStack
beforeAll(async () => {
  stack = await startTestStack({
    functionEnv: { WEB_CHAT_VISITOR_PER_MINUTE: '6' },
  })
  // These tests look at what the channel functions store and send; the agent worker (tested
  // on its own) is not woken, so it cannot add replies or consume jobs underneath them.
  await setWakeUps(stack, false)
})
afterAll(async () => {
  await stack?.close()
})

const url = (path: string) => `${stack.url}/functions/v1/web-chat${path}`

/** A new visitor, as the widget makes one: an anonymous sign-in with the publishable key. */
async function signInVisitor(): Promise<string> {
  const client = createClient(stack.url, stack.keys.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  })
  const { data, error } = await client.auth.signInAnonymously()
  if (error || !data.session) throw new Error(`anonymous sign-in failed: ${error?.message}`)
  return data.session.access_token
}
/** POST /session with the visitor's session (a new visitor when none is given); body.token is that session. */
async function session(token?: string) {
  const bearer = token ?? (await signInVisitor())
  const response = await fetch(url('/session'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: 'https://shop.example', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ widget_key: WIDGET }),
  })
  const body = (await response.json()) as Record<string, any>
  return { status: response.status, body: { ...body, token: bearer } as Record<string, any>, headers: response.headers }
}
async function send(token: string, text: string, clientMessageId?: string) {
  const response = await fetch(url('/messages'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-widget-key': WIDGET },
    body: JSON.stringify({ text, ...(clientMessageId ? { client_message_id: clientMessageId } : {}) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any>, headers: response.headers }
}
async function history(token: string) {
  const response = await fetch(url('/messages'), {
    headers: { authorization: `Bearer ${token}`, 'x-widget-key': WIDGET },
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

/** Joins a private channel with a token; resolves with the status and a list of received payloads. */
async function subscribe(token: string, topic: string) {
  const client = createClient(stack.url, stack.keys.publishableKey, {
    realtime: { transport: WebSocket as never },
    auth: { persistSession: false, autoRefreshToken: false },
  })
  await client.realtime.setAuth(token)
  const received: Array<Record<string, unknown>> = []
  const channel = client.channel(topic, { config: { private: true } })
  channel.on('broadcast', { event: '*' }, (message) => received.push(message.payload as Record<string, unknown>))
  const status = await new Promise<string>((resolve) => {
    channel.subscribe((state) => {
      if (state !== 'CLOSED') resolve(state)
    })
    setTimeout(() => resolve('TIMED_OUT'), 5000)
  })
  return { status, received, close: () => client.removeAllChannels() }
}

describe('web-chat', () => {
  test('serves the widget script with CORS for any origin', async () => {
    const response = await fetch(url('/widget.js'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('javascript')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    const source = await response.text()
    expect(source).toContain('phx_join')
    expect(() => new Function(source)).not.toThrow()
  })

  test('an unknown widget key gets no session, and no visitor session gets nothing', async () => {
    const token = await signInVisitor()
    const unknown = await fetch(url('/session'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ widget_key: 'wk_nope' }),
    })
    expect(unknown.status).toBe(404)
    const unsigned = await fetch(url('/session'), { method: 'POST', body: JSON.stringify({ widget_key: WIDGET }) })
    expect(unsigned.status).toBe(401)
  })

  test('a visitor session is an ES256 token of an anonymous user, verified against the JWKS', async () => {
    const token = await signInVisitor()
    expect(decodeProtectedHeader(token).alg).toBe('ES256')
    const { payload } = await jwtVerify(
      token,
      createRemoteJWKSet(new URL(`${stack.url}/auth/v1/.well-known/jwks.json`)),
    )
    expect(payload).toMatchObject({ role: 'authenticated', is_anonymous: true })
    const opened = await session(token)
    expect(opened.status).toBe(200)
    expect(opened.body['visitor_id']).toBe(payload.sub)
    // A signed-in person (not anonymous) is not a visitor.
    const member = await stack.newUser('not-a-visitor')
    const { data } = await member.client.auth.getSession()
    expect((await session(data.session!.access_token)).status).toBe(401)
  })

  test('session, message, history, resume after reload, and live replies on the visitor topic only', async () => {
    const first = await session()
    expect(first.status).toBe(200)
    expect(first.body['topic']).toBe(`webchat:${first.body['visitor_id']}`)
    expect(first.body['realtime']).toMatchObject({ apikey: stack.keys.publishableKey })
    const token = first.body['token'] as string

    // A reload presents the stored session and resumes the same visitor.
    const resumed = await session(token)
    expect(resumed.body['visitor_id']).toBe(first.body['visitor_id'])

    const live = await subscribe(token, first.body['topic'])
    expect(live.status).toBe('SUBSCRIBED')

    const sent = await send(token, 'Hello, is anyone there?', 'client-msg-0001')
    expect(sent.status).toBe(202)
    const again = await send(token, 'Hello, is anyone there?', 'client-msg-0001')
    expect(again.body).toMatchObject({ duplicate: true, message_id: sent.body['message_id'] })

    // The agent's reply, recorded by the worker, reaches the visitor live.
    const service = stack.serviceClient()
    const { data: conversation } = await service.rpc('find_conversation', {
      connection_id: '30000000-0000-4000-8000-000000000001',
      thread_key: first.body['visitor_id'],
    })
    await service.rpc('record_reply', {
      tenant_id: TENANT,
      conversation_id: conversation.conversation_id,
      text: 'Hi! I am Ava. How can I help?',
      idempotency_key: 'webchat-test-1',
    })
    await expect
      .poll(() => live.received.map((p) => p['text']), { timeout: 5000 })
      .toContain('Hi! I am Ava. How can I help?')
    const pushed = live.received.find((p) => p['text'] === 'Hi! I am Ava. How can I help?')!
    expect(Object.keys(pushed).sort()).toEqual(['author_kind', 'created_at', 'direction', 'id', 'seq', 'text'])

    const { status, body } = await history(token)
    expect(status).toBe(200)
    expect(body['messages'].map((m: { direction: string; text: string }) => [m.direction, m.text])).toEqual([
      ['in', 'Hello, is anyone there?'],
      ['out', 'Hi! I am Ava. How can I help?'],
    ])
    await live.close()

    // Another visitor sees neither the history nor the topic.
    const other = await session()
    expect(other.body['visitor_id']).not.toBe(first.body['visitor_id'])
    expect((await history(other.body['token'])).body['messages']).toEqual([])
    const spy = await subscribe(other.body['token'], first.body['topic'])
    expect(spy.status).not.toBe('SUBSCRIBED')
    await spy.close()
    // Nor does the publishable key alone.
    const anon = await subscribe(stack.keys.publishableKey, first.body['topic'])
    expect(anon.status).not.toBe('SUBSCRIBED')
    await anon.close()
  })

  test('the conversation status: in session, messages and live, to the visitor only', async () => {
    const first = await session()
    // No conversation before the first message.
    expect(first.body['status']).toBeNull()
    const token = first.body['token'] as string
    const visitorId = first.body['visitor_id'] as string
    const live = await subscribe(token, first.body['topic'])
    expect(live.status).toBe('SUBSCRIBED')

    const sent = await send(token, 'Where is my order?', 'client-status-0001')
    expect(sent.status).toBe(202)
    expect(sent.body['status']).toBe('open')
    expect((await history(token)).body['status']).toBe('open')

    // Escalated ("talk to a human"), then taken over: each change reaches the widget live,
    // with nothing but the status.
    const service = stack.serviceClient()
    await service.rpc('escalate_channel_thread', {
      connection_id: '30000000-0000-4000-8000-000000000001',
      thread_key: visitorId,
      reason: 'customer asked for a person',
    })
    await expect
      .poll(() => live.received.filter((p) => 'status' in p).map((p) => p['status']), { timeout: 5000 })
      .toEqual(['waiting_for_human'])
    expect((await session(token)).body['status']).toBe('waiting_for_human')
    await stack.db.pg.query(
      `update app.conversations set status = 'human' where connection_id = $1 and thread_key = $2`,
      ['30000000-0000-4000-8000-000000000001', visitorId],
    )
    await expect
      .poll(() => live.received.filter((p) => 'status' in p).map((p) => p['status']), { timeout: 5000 })
      .toEqual(['waiting_for_human', 'human'])
    // Nothing but the status (and the id Realtime gives every broadcast, which is not the
    // conversation's).
    const { data: conversation } = await service.rpc('find_conversation', {
      connection_id: '30000000-0000-4000-8000-000000000001',
      thread_key: visitorId,
    })
    for (const p of live.received.filter((p) => 'status' in p)) {
      expect(Object.keys(p).filter((key) => key !== 'id')).toEqual(['status'])
      expect(p['id']).not.toBe(conversation.conversation_id)
    }

    // The resumed session, the history and the next message all say a human handles it.
    const resumed = await session(token)
    expect(resumed.body['visitor_id']).toBe(visitorId)
    expect(resumed.body['status']).toBe('human')
    expect((await history(token)).body['status']).toBe('human')
    const whileHuman = await send(token, 'Hello? Anyone?', 'client-status-0002')
    expect(whileHuman.status).toBe(202)
    expect(whileHuman.body['status']).toBe('human')
    await live.close()

    // Another visitor of the same widget sees none of it: no status in its session or
    // history, and its own conversation is open.
    const other = await session()
    expect(other.body['status']).toBeNull()
    const otherHistory = await history(other.body['token'])
    expect(otherHistory.body).toEqual({ messages: [], status: null, conversation_id: null })
    expect((await send(other.body['token'], 'Hi there', 'client-status-0003')).body['status']).toBe('open')
    expect((await session(other.body['token'])).body['status']).toBe('open')
    // And the first visitor's conversation still is the human's.
    expect((await session(token)).body['status']).toBe('human')
  })

  test('the send response says whether an agent reply is expected: active agent yes, paused agent no', async () => {
    const { body } = await session()
    const token = body['token'] as string
    const answered = await send(token, 'Do you ship to Norway?', 'client-expect-0001')
    expect(answered.status).toBe(202)
    expect(answered.body).toMatchObject({
      status: 'open',
      agent_reply_expected: true,
      rate_limited: false,
      notice_expected: false,
    })
    // A retried POST expects nothing more: the first answer already said it.
    const retried = await send(token, 'Do you ship to Norway?', 'client-expect-0001')
    expect(retried.body).toMatchObject({ duplicate: true, agent_reply_expected: false })

    // The demo admin pauses the agent: the conversation stays open, but no answer comes.
    const admin = stack.anonClient()
    const { error: signInError } = await admin.auth.signInWithPassword({
      email: 'admin@konstruct.local',
      password: 'konstruct-demo',
    })
    expect(signInError).toBeNull()
    const { error: pauseError } = await admin.rpc('pause_agent', { agent_id: AGENT })
    expect(pauseError).toBeNull()
    try {
      const paused = await send(token, 'Hello? Still there?', 'client-expect-0002')
      expect(paused.status).toBe(202)
      expect(paused.body).toMatchObject({
        status: 'open',
        agent_reply_expected: false,
        rate_limited: false,
        notice_expected: false,
      })
      // A new visitor's first message, too.
      const fresh = await session()
      expect((await send(fresh.body['token'], 'Hi, anyone?', 'client-expect-0003')).body).toMatchObject({
        status: 'open',
        agent_reply_expected: false,
      })
    } finally {
      const { error } = await admin.rpc('resume_agent', { agent_id: AGENT })
      expect(error).toBeNull()
    }
    // Active again: expected again.
    const resumed = await send(token, 'Great, thanks!', 'client-expect-0004')
    expect(resumed.body).toMatchObject({ agent_reply_expected: true })
  })

  test('held back by the inbound rate limit: no agent reply expected, the notice is', async () => {
    const key = `inbound_rate_limit_per_sender:${TENANT}`
    await stack.db.pg.query(`insert into app.settings (key, value) values ($1, '1')`, [key])
    try {
      const { body } = await session()
      const token = body['token'] as string
      expect((await send(token, 'First question', 'client-rate-0001')).body).toMatchObject({
        agent_reply_expected: true,
        rate_limited: false,
      })
      // Over the limit: the first held-back message gets the notice, the next one nothing.
      expect((await send(token, 'Second question', 'client-rate-0002')).body).toMatchObject({
        status: 'open',
        agent_reply_expected: false,
        rate_limited: true,
        notice_expected: true,
      })
      expect((await send(token, 'Third question', 'client-rate-0003')).body).toMatchObject({
        agent_reply_expected: false,
        rate_limited: true,
        notice_expected: false,
      })
    } finally {
      await stack.db.pg.query(`delete from app.settings where key = $1`, [key])
    }
  })

  test('a visitor is not a member: the portal api refuses it, and it cannot create a tenant', async () => {
    const { body } = await session()
    const asVisitor = createClient(stack.url, stack.keys.publishableKey, {
      global: { headers: { authorization: `Bearer ${body['token']}` } },
      db: { schema: 'api' },
      realtime: { transport: WebSocket as never },
      auth: { persistSession: false, autoRefreshToken: false },
    })
    for (const [fn, args] of [
      ['list_conversations', { tenant_id: TENANT }],
      ['list_messages', { conversation_id: '00000000-0000-4000-8000-000000000000' }],
      ['web_chat_history', { connection_id: '30000000-0000-4000-8000-000000000001', visitor_id: body['visitor_id'] }],
      ['web_chat_status', { connection_id: '30000000-0000-4000-8000-000000000001', visitor_id: body['visitor_id'] }],
      [
        'ingest_message',
        {
          connection_id: '30000000-0000-4000-8000-000000000001',
          external_id: 'x',
          thread_key: 'x',
          external_user_id: 'x',
        },
      ],
    ] as const) {
      const { data, error } = await asVisitor.rpc(fn, args)
      expect(data, fn).toBeNull()
      // Refused, or (a member-only read as a signed-in non-member) not found.
      expect(['42501', 'P0002'], fn).toContain(error?.code)
    }
    const { error } = await asVisitor.rpc('create_tenant', { name: 'Visitor Inc' })
    expect(error?.code).toBe('42501')
    const { rows } = await stack.db.pg.query(`select 1 from app.tenants where name = 'Visitor Inc'`)
    expect(rows).toEqual([])
  })

  test('bad tokens 401; empty or oversized text 400/413; per-visitor rate limit 429 with Retry-After', async () => {
    expect((await send('not-a-token', 'hi')).status).toBe(401)
    const { body } = await session()
    const token = body['token'] as string
    const tampered = token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA')
    expect((await send(tampered, 'hi')).status).toBe(401)
    // The same claims signed with the legacy JWT secret: the function trusts only the JWKS.
    const legacy = await signLegacyJwt(stack.keys.jwtSecret, decodeJwt(token), 600)
    expect((await send(legacy, 'hi')).status).toBe(401)
    expect((await send(token, '   ')).status).toBe(400)
    expect((await send(token, 'x'.repeat(4001))).status).toBe(413)
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 6; i++) {
      const result = await send(token, `message ${i}`)
      statuses.push(result.status)
      if (result.status === 429) retryAfter = result.headers.get('retry-after')
    }
    expect(statuses).toContain(429)
    expect(Number(retryAfter)).toBeGreaterThan(0)
    // Another visitor is not slowed down by this one.
    const fresh = await session()
    expect((await send(fresh.body['token'], 'hello from another visitor')).status).toBe(202)
  })
})

describe('the widget holds its own settings against abuse', () => {
  const ORIGIN_WIDGET = 'wk_origin_bound_widget_key'
  const ORIGIN_CHANNEL = '30000000-0000-4000-8000-0000000000f1'

  beforeAll(async () => {
    await stack.db.pg.query(
      `insert into app.channel_connections (id, tenant_id, kind, name, agent_id, widget_key, settings)
       values ($1, $2, 'web_chat', 'Shop only', $3, $4, '{"allowed_origins": ["https://Shop.example/"]}')`,
      [ORIGIN_CHANNEL, TENANT, AGENT, ORIGIN_WIDGET],
    )
  })

  async function post(path: string, token: string, origin: string | null, body: Record<string, unknown>) {
    const response = await fetch(url(path), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-widget-key': ORIGIN_WIDGET,
        ...(origin ? { origin } : {}),
      },
      body: JSON.stringify(body),
    })
    return { status: response.status, body: (await response.json()) as Record<string, any> }
  }

  test('a widget with allowed origins answers only pages on them: a clear 403 elsewhere, nothing stored', async () => {
    const token = await signInVisitor()
    const before = await stack.db.pg.query(`select count(*)::int as n from app.messages where connection_id = $1`, [
      ORIGIN_CHANNEL,
    ])
    for (const origin of ['https://evil.example', 'http://shop.example', 'https://shop.example.evil.example', null]) {
      expect(await post('/session', token, origin, { widget_key: ORIGIN_WIDGET })).toEqual({
        status: 403,
        body: { error: 'origin_not_allowed', message: 'This chat is not available on this website.' },
      })
      expect((await post('/messages', token, origin, { text: 'burn the plan' })).status).toBe(403)
    }
    const after = await stack.db.pg.query(`select count(*)::int as n from app.messages where connection_id = $1`, [
      ORIGIN_CHANNEL,
    ])
    expect(after.rows).toEqual(before.rows)
    expect((await post('/session', token, 'https://shop.example', { widget_key: ORIGIN_WIDGET })).status).toBe(200)
    expect((await post('/messages', token, 'https://shop.example', { text: 'hello from the shop' })).status).toBe(202)
  })

  test('a stored allowed_origins that does not fit never opens the widget to more pages: it answers only the origins that fit, and the log says what to fix', async () => {
    // Written by hand in SQL or by an older version: not a list, nothing readable, partly readable.
    const widgets: Array<{ key: string; settings: Record<string, unknown>; admits: string[] }> = [
      { key: 'wk_origins_not_a_list', settings: { allowed_origins: 'https://shop.example' }, admits: [] },
      { key: 'wk_origins_unreadable', settings: { allowed_origins: ['*', 'shop.example', 7] }, admits: [] },
      {
        key: 'wk_origins_partly_readable',
        settings: { allowed_origins: ['https://Shop.example/', 'http//typo'], greeting: '  Welcome to the shop  ' },
        admits: ['https://shop.example'],
      },
    ]
    for (const [i, widget] of widgets.entries()) {
      await stack.db.pg.query(
        `insert into app.channel_connections (id, tenant_id, kind, name, agent_id, widget_key, settings)
         values ($1, $2, 'web_chat', $3, $4, $5, $6)`,
        [
          `30000000-0000-4000-8000-0000000000e${i}`,
          TENANT,
          widget.key,
          AGENT,
          widget.key,
          JSON.stringify(widget.settings),
        ],
      )
    }
    const token = await signInVisitor()
    const open = async (key: string, origin: string | null) => {
      const response = await fetch(url('/session'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          ...(origin ? { origin } : {}),
        },
        body: JSON.stringify({ widget_key: key }),
      })
      return { status: response.status, body: (await response.json()) as Record<string, any> }
    }
    for (const widget of widgets) {
      for (const origin of ['https://shop.example', 'https://evil.example', 'https://anywhere.example', null]) {
        const answer = await open(widget.key, origin)
        if (origin && widget.admits.includes(origin)) expect(answer.status, `${widget.key} ${origin}`).toBe(200)
        else
          expect(answer, `${widget.key} ${origin}`).toEqual({
            status: 403,
            body: { error: 'origin_not_allowed', message: 'This chat is not available on this website.' },
          })
      }
    }
    // What fits is still used: the greeting of the partly readable widget.
    expect((await open('wk_origins_partly_readable', 'https://shop.example')).body['widget']).toEqual({
      name: 'wk_origins_partly_readable',
      greeting: 'Welcome to the shop',
      title: null,
      color: null,
      prechat_form: false,
    })

    // The function says what does not fit, once per request, naming the connection.
    const lines: Array<[string, any]> = []
    const handler = createWebChatHandler({
      publicUrl: stack.url,
      publishableKey: stack.keys.publishableKey,
      rpc: createApi({ url: stack.url, key: stack.keys.secretKey }),
      verifyUser: async () => ({ sub: randomUUID(), is_anonymous: true }) as never,
      log: (line, detail) => lines.push([line, detail]),
    })
    const refused = await handler(
      new Request(url('/session'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer v', origin: 'https://shop.example' },
        body: JSON.stringify({ widget_key: 'wk_origins_not_a_list' }),
      }),
    )
    expect(refused.status).toBe(403)
    expect(lines.find(([line]) => line === 'web_chat.settings_unreadable')?.[1]).toEqual({
      connection_id: '30000000-0000-4000-8000-0000000000e0',
      problems: ['settings.allowed_origins: Allowed origins are a list; the widget answers on no page until fixed.'],
    })
  })

  test('limits per visitor and per IP are kept in the database, shared by every function instance', async () => {
    const rpc = createApi({ url: stack.url, key: stack.keys.secretKey })
    const visitors = new Map<string, string>()
    const instance = () =>
      createWebChatHandler({
        publicUrl: stack.url,
        publishableKey: stack.keys.publishableKey,
        rpc,
        // The bearer is the visitor's name here; the session check itself is tested above.
        verifyUser: async (token) => {
          if (!token) return null
          if (!visitors.has(token)) visitors.set(token, randomUUID())
          return { sub: visitors.get(token)!, is_anonymous: true } as never
        },
        limits: { perVisitor: 3, perIp: 5, perTenant: 10_000 },
        log: () => {},
      })
    const [a, b] = [instance(), instance()]
    const ask = (handler: typeof a, visitor: string, ip: string) =>
      handler(
        new Request(url('/messages?after_seq=0'), {
          headers: { authorization: `Bearer ${visitor}`, 'x-widget-key': WIDGET, 'x-forwarded-for': `10.9.9.9, ${ip}` },
        }),
      ).then((r) => r.status)

    // One visitor alternating between two instances gets 3 in the window, not 3 per instance.
    const one = [
      await ask(a, 'v1', '198.51.100.1'),
      await ask(b, 'v1', '198.51.100.1'),
      await ask(a, 'v1', '198.51.100.1'),
    ]
    expect(one).toEqual([200, 200, 200])
    expect(await ask(b, 'v1', '198.51.100.1')).toBe(429)
    // New visitors from one address: the address runs out too (5 in the window, v1's 4 included).
    expect(await ask(a, 'v2', '198.51.100.1')).toBe(200)
    expect(await ask(b, 'v3', '198.51.100.1')).toBe(429)
    // The address the proxy saw counts, not what the client put first in X-Forwarded-For.
    expect(await ask(a, 'v4', '198.51.100.2')).toBe(200)
  })
})

describe("the portal's test chat", () => {
  /** POST /session as a new visitor, with whatever member session (or claim) the caller adds. */
  async function sessionWith(headers: Record<string, string>, body: Record<string, unknown> = {}) {
    const token = await signInVisitor()
    const response = await fetch(url('/session'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify({ widget_key: WIDGET, ...body }),
    })
    return { status: response.status, body: (await response.json()) as Record<string, any>, token }
  }
  async function signedInToken(client: ReturnType<TestStack['anonClient']>) {
    const { data } = await client.auth.getSession()
    return data.session!.access_token
  }
  /** The conversation a visitor's first message started: whether it is a test. */
  async function conversationOfVisitor(visitorToken: string, text: string) {
    const sent = await send(visitorToken, text)
    expect(sent.status).toBe(202)
    const { rows } = await stack.db.pg.query<{ id: string; is_test: boolean }>(
      `select c.id, c.is_test from app.messages m join app.conversations c on c.id = m.conversation_id where m.id = $1`,
      [sent.body['message_id']],
    )
    return rows[0]!
  }
  const planMessages = async () =>
    Number(
      (
        await stack.db.pg.query<{ n: string }>(
          `select coalesce(sum(messages), 0) as n from app.tenant_usage where tenant_id = $1 and period_start = app.usage_period(now())`,
          [TENANT],
        )
      ).rows[0]!.n,
    )

  test("a member's test chat makes a test conversation: shown as Test, not counted toward the plan", async () => {
    const admin = stack.anonClient()
    expect((await admin.auth.signInWithPassword(ADMIN)).error).toBeNull()
    const opened = await sessionWith({ 'x-member-authorization': `Bearer ${await signedInToken(admin)}` })
    expect(opened.status).toBe(200)
    expect(opened.body['test']).toBe(true)

    const before = await planMessages()
    const conversation = await conversationOfVisitor(opened.token, 'Testing my agent')
    expect(conversation.is_test).toBe(true)
    expect(await send(opened.token, 'And a second question')).toMatchObject({ status: 202 })
    expect(await planMessages()).toBe(before)

    // The inbox says so.
    const { data: rows, error } = await admin.rpc('list_conversations', { tenant_id: TENANT })
    expect(error).toBeNull()
    expect((rows as Array<{ id: string; is_test: boolean }>).find((r) => r.id === conversation.id)?.is_test).toBe(true)
  })

  test("with the pre-chat form on, a member's test chat still writes at once; a visitor is asked first", async () => {
    const widgetId = '30000000-0000-4000-8000-000000000001'
    await stack.db.pg.query(
      `update app.channel_connections set settings = settings || '{"prechat_form": true}' where id = $1`,
      [widgetId],
    )
    try {
      const admin = stack.anonClient()
      expect((await admin.auth.signInWithPassword(ADMIN)).error).toBeNull()
      const opened = await sessionWith({ 'x-member-authorization': `Bearer ${await signedInToken(admin)}` })
      expect(opened.body['test']).toBe(true)
      expect((await conversationOfVisitor(opened.token, 'Does my agent answer?')).is_test).toBe(true)

      const visitor = await sessionWith({})
      expect(await send(visitor.token, 'Hello')).toMatchObject({ status: 428, body: { error: 'prechat_required' } })
    } finally {
      await stack.db.pg.query(`update app.channel_connections set settings = settings - 'prechat_form' where id = $1`, [
        widgetId,
      ])
    }
  })

  test('a plain visitor cannot make its own conversation a test: it says so in vain, or brings a session that is not a member of this tenant', async () => {
    const before = await planMessages()
    // Claiming it in the body does nothing.
    const claimed = await sessionWith({}, { test: true, is_test: true })
    expect(claimed.status).toBe(200)
    expect(claimed.body['test']).toBe(false)
    expect((await conversationOfVisitor(claimed.token, 'Free messages please')).is_test).toBe(false)

    // Its own anonymous session, or a forged token, as the "member": 401, nothing marked.
    const anonymous = await sessionWith({ 'x-member-authorization': `Bearer ${await signInVisitor()}` })
    expect(anonymous).toMatchObject({ status: 401, body: { error: 'invalid_member_token' } })
    const forged = await sessionWith({ 'x-member-authorization': 'Bearer not.a.token' })
    expect(forged.status).toBe(401)

    // A signed-in person of another tenant (anyone can sign up): 403, nothing marked.
    const stranger = await stack.newUser('test-chat-stranger')
    expect((await stranger.client.rpc('create_tenant', { name: 'Stranger Test Co' })).error).toBeNull()
    const foreign = await sessionWith({ 'x-member-authorization': `Bearer ${await signedInToken(stranger.client)}` })
    expect(foreign).toMatchObject({ status: 403, body: { error: 'not_a_member' } })
    expect((await conversationOfVisitor(foreign.token, 'Am I a test?')).is_test).toBe(false)

    const { rows } = await stack.db.pg.query(`select 1 from app.test_chat_visitors where visitor_id = any($1)`, [
      [anonymous, forged, foreign, claimed].map((s) => decodeJwt(s.token).sub),
    ])
    expect(rows).toEqual([])
    // Both real conversations counted.
    expect(await planMessages()).toBe(before + 2)
  })
})
