// Attachments on the local stack: files sent on WhatsApp and Slack go through the real
// whatsapp-webhook and slack-events functions, and their bytes come back through the real
// channel-media function (Deno) from the fake channels, for a member of the tenant only.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { signSlackRequest, slackEventEnvelope, startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { startRecordingServer, type RecordingServer } from '../fakes/recording-server.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'

const APP_SECRET = 'whatsapp-app-secret-for-tests'
const SIGNING_SECRET = 'slack-signing-secret-for-tests'
const PHONE = '100000000000001'
const WA_TOKEN = 'EAAG-konstruct-placeholder'
const SLACK_TOKEN = 'xoxb-konstruct-placeholder'
const MAX_BYTES = 1024 * 1024
// A 1×1 PNG.
const PNG = Uint8Array.from(
  Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64',
  ),
)

let stack: TestStack
let wa: FakeWhatsApp
let slack: FakeSlack
let elsewhere: RecordingServer<never>
let memberToken: string
let strangerToken: string

beforeAll(async () => {
  wa = await startFakeWhatsApp({ accessToken: WA_TOKEN })
  slack = await startFakeSlack({ teamId: 'T0KONSTRUCT', botUserId: 'U0KONSTRUCT', botToken: SLACK_TOKEN })
  elsewhere = await startRecordingServer<never>(() => ({ status: 200, body: new Uint8Array([1, 2, 3]) }))
  stack = await startTestStack({
    functionEnv: {
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'verify',
      WHATSAPP_API_URL: wa.url,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      MEDIA_MAX_BYTES: String(MAX_BYTES),
    },
  })
  await setWakeUps(stack, false)
  const member = stack.anonClient()
  const { data, error } = await member.auth.signInWithPassword({
    email: 'admin@konstruct.local',
    password: 'konstruct-demo',
  })
  if (error) throw error
  memberToken = data.session!.access_token
  const stranger = await stack.newUser('stranger')
  await stranger.client.rpc('create_tenant', { name: 'Another shop' })
  strangerToken = (await stranger.client.auth.getSession()).data.session!.access_token
})
afterAll(async () => {
  await stack?.close()
  await wa?.close()
  await slack?.close()
  await elsewhere?.close()
})

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

let counter = 0
/** A customer sends a file on WhatsApp; returns the stored message id. */
async function sendOnWhatsApp(media: { id: string; type: string; mime: string; filename?: string }) {
  const payload = whatsAppTextWebhook({ phoneNumberId: PHONE, from: '4915100000077', text: 'x' })
  const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>
  const wamid = `wamid.media-${++counter}-${Date.now()}`
  value['messages'] = [
    {
      from: '4915100000077',
      id: wamid,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: media.type,
      [media.type]: { id: media.id, mime_type: media.mime, ...(media.filename ? { filename: media.filename } : {}) },
    },
  ]
  const body = JSON.stringify(payload)
  const response = await fetch(`${stack.url}/functions/v1/whatsapp-webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(APP_SECRET, body) },
    body,
  })
  expect(response.status).toBe(200)
  return (await sql<{ id: string }>('select id from app.messages where external_id = $1', [wamid]))[0]!.id
}

/** A Slack user shares a file in a DM with the agent; returns the stored message id. */
async function sendOnSlack(file: Record<string, unknown>) {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(++counter).padStart(6, '0')}`
  const body = JSON.stringify(
    slackEventEnvelope(
      {
        type: 'message',
        subtype: 'file_share',
        channel_type: 'im',
        channel: 'D0MEDIA',
        user: 'U0CUSTOMER',
        text: '',
        ts,
        event_ts: ts,
        files: [file],
      },
      { teamId: 'T0KONSTRUCT', botUserId: 'U0KONSTRUCT' },
    ),
  )
  const response = await fetch(`${stack.url}/functions/v1/slack-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signSlackRequest(SIGNING_SECRET, body) },
    body,
  })
  expect(response.status).toBe(200)
  return (await sql<{ id: string }>('select id from app.messages where external_id = $1', [`D0MEDIA:${ts}`]))[0]!.id
}

function fetchMedia(messageId: string, token: string, index = 0) {
  return fetch(`${stack.url}/functions/v1/channel-media?message_id=${messageId}&index=${index}`, {
    headers: { authorization: `Bearer ${token}`, apikey: stack.keys.publishableKey },
  })
}

describe('WhatsApp media', () => {
  test('a photo is recorded with what the inbox needs, and its bytes reach a member of the tenant', async () => {
    wa.addMedia({ id: 'media-photo-1', bytes: PNG, mimeType: 'image/png' })
    const id = await sendOnWhatsApp({ id: 'media-photo-1', type: 'image', mime: 'image/png' })
    const [row] = await sql<{ attachments: unknown[]; last_message_preview: string }>(
      `select m.attachments, c.last_message_preview from app.messages m join app.conversations c on c.id = m.conversation_id where m.id = $1`,
      [id],
    )
    expect(row!.attachments).toEqual([
      expect.objectContaining({ type: 'image', whatsapp_media_id: 'media-photo-1', mime_type: 'image/png' }),
    ])
    expect(row!.last_message_preview).toBe('📎 photo')

    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(200)
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(PNG)
    expect(response.headers.get('content-type')).toBe('image/png')
    expect(response.headers.get('content-disposition')).toMatch(/^inline/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
    // Graph's description, then the short-lived url, both with the channel's token.
    const asked = wa.requests.filter((r) => r.path.endsWith('/media-photo-1'))
    expect(asked).toHaveLength(2)
    for (const request of asked) expect(request.headers['authorization']).toBe(`Bearer ${WA_TOKEN}`)
  })

  test('a member of another tenant is told the file does not exist, and nothing is fetched', async () => {
    wa.addMedia({ id: 'media-photo-2', bytes: PNG, mimeType: 'image/png' })
    const id = await sendOnWhatsApp({ id: 'media-photo-2', type: 'image', mime: 'image/png' })
    const before = wa.requests.length
    const response = await fetchMedia(id, strangerToken)
    expect(response.status).toBe(404)
    expect(await response.text()).toBe('This file does not exist or you cannot see it.')
    expect(wa.requests.length).toBe(before)
    expect((await fetchMedia(id, 'not-a-session')).status).toBe(401)
  })

  test('a document larger than the cap is refused with its size, before it is downloaded', async () => {
    const big = new Uint8Array(MAX_BYTES + 512 * 1024).fill(7)
    wa.addMedia({ id: 'media-big', bytes: big, mimeType: 'application/pdf' })
    const id = await sendOnWhatsApp({ id: 'media-big', type: 'document', mime: 'application/pdf', filename: 'a.pdf' })
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(413)
    expect(await response.text()).toBe('This file is 1.5 MB; the inbox fetches files up to 1 MB. Open it in WhatsApp.')
    expect(wa.requests.filter((r) => r.path === '/media/media-big')).toHaveLength(0)
  })

  test('a file whose declared size lies is cut off at the cap while it is read', async () => {
    const big = new Uint8Array(MAX_BYTES + 1).fill(7)
    wa.addMedia({ id: 'media-liar', bytes: big, mimeType: 'video/mp4', declaredSize: 10 })
    const id = await sendOnWhatsApp({ id: 'media-liar', type: 'video', mime: 'video/mp4' })
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(413)
    expect(await response.text()).toBe(
      'This file is too large; the inbox fetches files up to 1 MB. Open it in WhatsApp.',
    )
  })

  test('a media url that is not on Meta’s hosts never receives the token', async () => {
    wa.addMedia({ id: 'media-moved', bytes: PNG, mimeType: 'image/png', url: `${elsewhere.url}/steal` })
    const id = await sendOnWhatsApp({ id: 'media-moved', type: 'image', mime: 'image/png' })
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(502)
    expect(await response.text()).toContain('not Meta’s')
    expect(elsewhere.requests).toHaveLength(0)
  })
})

describe('Slack files', () => {
  test('a shared PDF is recorded and downloads (never inline) for a member', async () => {
    const bytes = new TextEncoder().encode('%PDF-1.4 fake')
    const file = slack.addFile({ id: 'F0PDF', name: 'invoice.pdf', mimetype: 'application/pdf', bytes })
    const before = new Map(stack.calls)
    const id = await sendOnSlack(file)
    // A message with files takes the longer way (api.ingest_slack_messages stores text only):
    // two api calls before Slack's ack instead of one.
    const made = (name: string) => (stack.calls.get(name) ?? 0) - (before.get(name) ?? 0)
    expect([
      made('rpc/ingest_slack_messages'),
      made('rpc/resolve_slack_connection'),
      made('rpc/ingest_message'),
    ]).toEqual([0, 1, 1])
    const [row] = await sql<{ attachments: unknown[]; last_message_preview: string }>(
      `select m.attachments, c.last_message_preview from app.messages m join app.conversations c on c.id = m.conversation_id where m.id = $1`,
      [id],
    )
    expect(row!.attachments).toEqual([
      {
        type: 'document',
        slack_file_id: 'F0PDF',
        slack_url_private: file['url_private'],
        mime_type: 'application/pdf',
        filename: 'invoice.pdf',
        caption: null,
        size: bytes.byteLength,
        width: null,
        height: null,
      },
    ])
    expect(row!.last_message_preview).toBe('📎 invoice.pdf')
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('%PDF-1.4 fake')
    expect(response.headers.get('content-type')).toBe('application/octet-stream')
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="invoice.pdf"/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  test('a file whose url_private is on another host never receives the bot token', async () => {
    const forged = { ...slack.addFile({ id: 'F0FORGED', name: 'x.png', mimetype: 'image/png', bytes: PNG }) }
    forged['url_private'] = `${elsewhere.url}/files-pri/T0KONSTRUCT-F0FORGED/x.png`
    const id = await sendOnSlack(forged)
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(502)
    expect(await response.text()).toBe('This file is not on Slack, so it was not fetched.')
    expect(elsewhere.requests).toHaveLength(0)
    expect(slack.requests.filter((r) => r.path.includes('F0FORGED'))).toHaveLength(0)
  })

  test('a file Slack says is larger than the cap is refused without a request', async () => {
    const file = { ...slack.addFile({ id: 'F0HUGE', name: 'huge.mov', mimetype: 'video/quicktime', bytes: PNG }) }
    file['size'] = 3 * MAX_BYTES
    const id = await sendOnSlack(file)
    const response = await fetchMedia(id, memberToken)
    expect(response.status).toBe(413)
    expect(await response.text()).toBe('This file is 3 MB; the inbox fetches files up to 1 MB. Open it in Slack.')
    expect(slack.requests.filter((r) => r.path.includes('F0HUGE'))).toHaveLength(0)
  })
})
