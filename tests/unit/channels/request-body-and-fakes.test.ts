import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRawBody } from '../../../shared/net/request-body.ts'
import { buildSlackInstallUrl } from '../../../shared/channels/slack/oauth.ts'
import { startFakeSlack, type FakeSlack } from '../../fakes/fake-slack.ts'
import { startFakeWhatsApp } from '../../fakes/fake-whatsapp.ts'
import manifest from '../../../slack/manifest.json' with { type: 'json' }

describe('readRawBody', () => {
  it('returns the exact bytes and their text', async () => {
    const body = await readRawBody(new Request('http://x.test', { method: 'POST', body: 'héllo' }))
    expect(body.ok && [Buffer.from(body.bytes).toString('hex'), body.text]).toEqual([
      Buffer.from('héllo').toString('hex'),
      'héllo',
    ])
  })

  it('refuses a body over the limit, whether declared or streamed', async () => {
    const big = 'x'.repeat(2048)
    expect(await readRawBody(new Request('http://x.test', { method: 'POST', body: big }), 1024)).toEqual({
      ok: false,
      reason: 'too_large',
    })
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(512))
        controller.close()
      },
    })
    const undeclared = new Request('http://x.test', { method: 'POST', body: stream, duplex: 'half' } as RequestInit)
    expect(await readRawBody(undeclared, 1024)).toEqual({ ok: false, reason: 'too_large' })
  })

  it('reads an empty body', async () => {
    expect(await readRawBody(new Request('http://x.test', { method: 'POST' }))).toMatchObject({ ok: true, text: '' })
  })
})

describe('fake Slack', () => {
  let slack: FakeSlack
  beforeAll(async () => {
    slack = await startFakeSlack()
  })
  afterAll(() => slack.close())

  it('binds to 127.0.0.1 and "approves" an install by redirecting back with a code and the state', async () => {
    expect(slack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/)
    const installUrl = buildSlackInstallUrl({
      clientId: 'cid',
      redirectUri: 'http://127.0.0.1:1/functions/v1/slack-oauth',
      state: 'signed.state',
      authorizeUrl: `${slack.root}/oauth/v2/authorize`,
    })
    const response = await fetch(installUrl, { redirect: 'manual' })
    expect(response.status).toBe(302)
    const location = new URL(response.headers.get('location')!)
    expect(location.pathname).toBe('/functions/v1/slack-oauth')
    expect(location.searchParams.get('state')).toBe('signed.state')
    expect(location.searchParams.get('code')).toMatch(/^fake-code-\d+$/)
  })

  it('records requests and lets a test wait for them', async () => {
    const pending = slack.waitForCalls('chat.postMessage', 1)
    await fetch(`${slack.url}/chat.postMessage`, {
      method: 'POST',
      headers: { authorization: 'Bearer xoxb-1', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C1', text: 'hi', thread_ts: '1.0' }),
    })
    const [request] = await pending
    expect(request).toMatchObject({
      method: 'POST',
      path: '/api/chat.postMessage',
      body: { channel: 'C1', text: 'hi' },
    })
    expect(slack.messages.at(-1)).toMatchObject({ channel: 'C1', threadTs: '1.0', text: 'hi' })
  })

  it('answers like Slack when the token is missing', async () => {
    const response = await fetch(`${slack.url}/chat.postMessage`, { method: 'POST', body: '{}' })
    expect(await response.json()).toEqual({ ok: false, error: 'not_authed' })
  })
})

describe('fake WhatsApp', () => {
  it('answers an unauthenticated call with Graph error 190', async () => {
    const whatsapp = await startFakeWhatsApp()
    try {
      const response = await fetch(`${whatsapp.url}/v21.0/PN1/messages`, { method: 'POST', body: '{}' })
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ error: { code: 190, type: 'OAuthException' } })
    } finally {
      await whatsapp.close()
    }
  })
})

describe('slack/manifest.json', () => {
  it('points every URL at the project’s functions and subscribes to the events the parser handles', () => {
    const base = 'https://<project-ref>.supabase.co/functions/v1/'
    expect(manifest.settings.event_subscriptions.request_url).toBe(`${base}slack-events`)
    expect(manifest.settings.interactivity.request_url).toBe(`${base}slack-interactions`)
    expect(manifest.oauth_config.redirect_urls).toEqual([`${base}slack-oauth`])
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(
      expect.arrayContaining(['app_mention', 'message.im', 'message.channels', 'app_uninstalled', 'tokens_revoked']),
    )
    // Slack refuses a long_description under 174 characters.
    expect(manifest.display_information.long_description.length).toBeGreaterThanOrEqual(174)
  })
})
