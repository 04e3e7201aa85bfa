// What chat users send reaches Postgres in a form it can store, and a message the database
// refuses for good is acknowledged and reported instead of being redelivered forever.
import { describe, expect, it } from 'vitest'
import { isUnstorable, storableJson, storableText } from '../../../shared/api/storable-text.ts'
import { ApiError, createApi } from '../../../shared/api/client.ts'
import { createWhatsAppWebhookHandler } from '../../../shared/channels/handlers/whatsapp-webhook.ts'
import { signWhatsAppBody, whatsAppTextWebhook } from '../../fakes/fake-whatsapp.ts'

describe('storable text', () => {
  it('drops NUL and replaces lone surrogates, keeping real pairs', () => {
    expect(storableText('a\u0000b')).toBe('ab')
    expect(storableText('half \ud83d emoji')).toBe('half \ufffd emoji')
    expect(storableText('tail \ude00')).toBe('tail \ufffd')
    expect(storableText('whole 😀 emoji')).toBe('whole 😀 emoji')
    expect(storableJson({ 'k\u0000': ['x\u0000', { y: '\ud800' }], n: 3, nil: null })).toEqual({
      k: ['x', { y: '\ufffd' }],
      n: 3,
      nil: null,
    })
  })

  it('the api client sends only storable JSON', async () => {
    let sent = ''
    const rpc = createApi({
      url: 'http://db.test',
      key: 'k',
      fetch: (async (_url: RequestInfo | URL, init?: RequestInit) => {
        sent = String(init?.body)
        return new Response('{}', { status: 200 })
      }) as typeof fetch,
    })
    await rpc('ingest_message', { text: 'hi\u0000 \ud83d' })
    expect(JSON.parse(sent)).toEqual({ text: 'hi \ufffd' })
    expect(sent).not.toMatch(/\\u0000|\\ud83d/i)
  })

  it('treats data exceptions and check violations as unstorable, nothing else', () => {
    expect(['22P05', '22001', '23514'].map(isUnstorable)).toEqual([true, true, true])
    expect(['23505', '40001', '08006', 'KO005', null].map(isUnstorable)).toEqual([false, false, false, false, false])
  })
})

describe('whatsapp-webhook with a message the database refuses for good', () => {
  it('stores the rest of the delivery, answers 200 and reports the lost message', async () => {
    const calls: Array<{ fn: string; args: Record<string, unknown> }> = []
    const handler = createWhatsAppWebhookHandler({
      appSecret: 'secret',
      verifyToken: 'verify',
      log: () => {},
      rpc: (async (fn: string, args: Record<string, unknown>) => {
        calls.push({ fn, args })
        if (fn === 'resolve_whatsapp_connection') return { connection_id: 'c1', tenant_id: 't1', status: 'active' }
        if (fn === 'ingest_whatsapp_message' && args['external_id'] === 'wamid.2')
          throw new ApiError(fn, 400, '22001', 'too long')
        if (fn === 'ingest_whatsapp_message')
          return { outcome: 'ingested', message_id: `m-${String(args['external_id'])}`, duplicate: false }
        return null
      }) as never,
    })
    const payload = whatsAppTextWebhook({ phoneNumberId: 'PN1', from: '491', text: 'one', messageId: 'wamid.1' })
    const value = payload.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> }
    const first = value.messages[0]!
    value.messages.push({ ...first, id: 'wamid.2' }, { ...first, id: 'wamid.3' })
    const body = JSON.stringify(payload)
    const response = await handler(
      new Request('http://fn.test/whatsapp-webhook', {
        method: 'POST',
        headers: { 'x-hub-signature-256': signWhatsAppBody('secret', body) },
        body,
      }),
    )
    expect(response.status).toBe(200)
    expect(calls.filter((c) => c.fn === 'ingest_whatsapp_message').map((c) => c.args['external_id'])).toEqual([
      'wamid.1',
      'wamid.2',
      'wamid.3',
    ])
    expect(calls.find((c) => c.fn === 'record_audit')?.args).toMatchObject({
      tenant_id: 't1',
      action: 'alert.message_unstorable',
      details: { channel: 'whatsapp', external_id: 'wamid.2', code: '22001' },
    })
  })
})
