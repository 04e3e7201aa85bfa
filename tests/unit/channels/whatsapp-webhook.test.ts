import { describe, expect, it } from 'vitest'
import { answerWhatsAppHandshake, verifyWhatsAppSignature } from '../../../shared/channels/whatsapp/verify-webhook.ts'
import { parseWhatsAppWebhook, parseWhatsAppWebhookBody } from '../../../shared/channels/whatsapp/webhook.ts'
import { isInsideServiceWindow, serviceWindowClosesAt } from '../../../shared/channels/whatsapp/service-window.ts'
import { signWhatsAppBody, whatsAppStatusWebhook, whatsAppTextWebhook } from '../../fakes/fake-whatsapp.ts'

const appSecret = 'whatsapp-app-secret'

describe('WhatsApp GET handshake', () => {
  const query = (params: Record<string, string>) => new URLSearchParams(params)

  it('echoes the challenge for our verify token', () => {
    expect(
      answerWhatsAppHandshake({
        query: query({ 'hub.mode': 'subscribe', 'hub.verify_token': 'vt', 'hub.challenge': '1158201444' }),
        verifyToken: 'vt',
      }),
    ).toEqual({
      ok: true,
      challenge: '1158201444',
    })
  })

  it('refuses a wrong token, another mode, a missing challenge or an unset token', () => {
    const good = { 'hub.mode': 'subscribe', 'hub.verify_token': 'vt', 'hub.challenge': 'c' }
    expect(answerWhatsAppHandshake({ query: query({ ...good, 'hub.verify_token': 'vT' }), verifyToken: 'vt' })).toEqual(
      { ok: false, reason: 'token_mismatch' },
    )
    expect(
      answerWhatsAppHandshake({ query: query({ ...good, 'hub.mode': 'unsubscribe' }), verifyToken: 'vt' }),
    ).toEqual({ ok: false, reason: 'not_subscribe' })
    expect(
      answerWhatsAppHandshake({
        query: query({ 'hub.mode': 'subscribe', 'hub.verify_token': 'vt' }),
        verifyToken: 'vt',
      }),
    ).toEqual({ ok: false, reason: 'missing_challenge' })
    expect(answerWhatsAppHandshake({ query: query(good), verifyToken: '' })).toEqual({
      ok: false,
      reason: 'missing_secret',
    })
    expect(
      answerWhatsAppHandshake({ query: query({ 'hub.mode': 'subscribe', 'hub.challenge': 'c' }), verifyToken: 'vt' }),
    ).toEqual({ ok: false, reason: 'token_mismatch' })
  })
})

describe('verifyWhatsAppSignature', () => {
  const body = JSON.stringify(
    whatsAppTextWebhook({
      phoneNumberId: '106540352242922',
      from: '16315551181',
      text: 'Olá 👋',
      messageId: 'wamid.A',
    }),
  )
  const header = signWhatsAppBody(appSecret, body)

  it('accepts the raw body signed with the app secret, as text or bytes', async () => {
    expect(await verifyWhatsAppSignature({ appSecret, body, header })).toEqual({ ok: true })
    expect(await verifyWhatsAppSignature({ appSecret, body: Buffer.from(body), header })).toEqual({ ok: true })
    expect(
      await verifyWhatsAppSignature({ appSecret, body, header: header.toUpperCase().replace('SHA256=', 'sha256=') }),
    ).toEqual({ ok: true })
  })

  it('rejects a one-byte change, the wrong secret, a re-serialized body', async () => {
    expect(await verifyWhatsAppSignature({ appSecret, body: body.replace('Olá', 'Olà'), header })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
    expect(await verifyWhatsAppSignature({ appSecret: 'other', body, header })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
    const reserialized = JSON.stringify(JSON.parse(body), null, 1)
    expect(await verifyWhatsAppSignature({ appSecret, body: reserialized, header })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('gives a clear reason for a missing or malformed header', async () => {
    expect(await verifyWhatsAppSignature({ appSecret, body, header: null })).toEqual({
      ok: false,
      reason: 'missing_signature',
    })
    expect(await verifyWhatsAppSignature({ appSecret, body, header: header.replace('sha256=', 'sha1=') })).toEqual({
      ok: false,
      reason: 'malformed_signature',
    })
    expect(await verifyWhatsAppSignature({ appSecret, body, header: 'sha256=abc' })).toEqual({
      ok: false,
      reason: 'malformed_signature',
    })
    expect(await verifyWhatsAppSignature({ appSecret: '', body, header })).toEqual({
      ok: false,
      reason: 'missing_secret',
    })
  })
})

function change(value: Record<string, unknown>, phoneNumberId = 'PN1') {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA1',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  }
}

describe('parseWhatsAppWebhook', () => {
  it('normalizes a text message, routed by phone_number_id, with the contact name', () => {
    const result = parseWhatsAppWebhookBody(
      JSON.stringify(
        whatsAppTextWebhook({
          phoneNumberId: 'PN9',
          from: '16315551181',
          text: 'Hello',
          messageId: 'wamid.X',
          name: 'Kerry',
          timestampSeconds: 1700000000,
        }),
      ),
    )
    expect(result).toEqual({
      ok: true,
      webhook: {
        messages: [
          {
            phoneNumberId: 'PN9',
            displayPhoneNumber: '15550000000',
            businessAccountId: '200000000000001',
            messageId: 'wamid.X',
            from: '16315551181',
            contactName: 'Kerry',
            timestamp: new Date(1700000000 * 1000),
            text: 'Hello',
            content: { type: 'text', body: 'Hello' },
            replyToMessageId: null,
          },
        ],
        statuses: [],
        errors: [],
      },
    })
  })

  it('normalizes button and list replies, template buttons and media with captions', () => {
    const result = parseWhatsAppWebhook(
      change({
        messages: [
          {
            from: '1',
            id: 'w1',
            timestamp: '1',
            type: 'interactive',
            context: { from: '15550001111', id: 'wamid.ours' },
            interactive: { type: 'button_reply', button_reply: { id: 'confirm:42', title: 'Confirm' } },
          },
          {
            from: '1',
            id: 'w2',
            timestamp: '1',
            type: 'interactive',
            interactive: { type: 'list_reply', list_reply: { id: 'opt2', title: 'Billing', description: 'Invoices' } },
          },
          {
            from: '1',
            id: 'w3',
            timestamp: '1',
            type: 'button',
            button: { text: 'Talk to a human', payload: 'handoff' },
          },
          {
            from: '1',
            id: 'w4',
            timestamp: '1',
            type: 'image',
            image: { caption: 'my receipt', mime_type: 'image/jpeg', sha256: 'x', id: 'MEDIA1' },
          },
          {
            from: '1',
            id: 'w5',
            timestamp: '1',
            type: 'document',
            document: { filename: 'a.pdf', mime_type: 'application/pdf', sha256: 'x', id: 'MEDIA2' },
          },
          { from: '1', id: 'w6', timestamp: '1', type: 'location', location: { latitude: 1, longitude: 2 } },
          {
            from: '1',
            id: 'w7',
            timestamp: '1',
            type: 'unsupported',
            errors: [{ code: 131051, title: 'Message type unknown' }],
          },
        ],
      }),
    )
    if (!result.ok) throw new Error('parse failed')
    const [button, list, template, image, doc, location, unknown] = result.webhook.messages
    expect(button).toMatchObject({
      text: 'Confirm',
      replyToMessageId: 'wamid.ours',
      content: { type: 'interactive', replyType: 'button_reply', replyId: 'confirm:42', title: 'Confirm' },
    })
    expect(list).toMatchObject({
      text: 'Billing',
      content: { type: 'interactive', replyType: 'list_reply', replyId: 'opt2', description: 'Invoices' },
    })
    expect(template).toMatchObject({ text: 'Talk to a human', content: { type: 'button', payload: 'handoff' } })
    expect(image).toMatchObject({
      text: 'my receipt',
      content: { type: 'media', mediaType: 'image', mediaId: 'MEDIA1', caption: 'my receipt', mimeType: 'image/jpeg' },
    })
    expect(doc).toMatchObject({
      text: '',
      content: { type: 'media', mediaType: 'document', filename: 'a.pdf', caption: null },
    })
    expect(location).toMatchObject({ text: '', content: { type: 'unsupported', originalType: 'location' } })
    expect(unknown).toMatchObject({ content: { type: 'unsupported', originalType: 'unsupported' } })
  })

  it('normalizes status updates, including failures with their errors', () => {
    const delivered = parseWhatsAppWebhook(
      whatsAppStatusWebhook({
        phoneNumberId: 'PN1',
        messageId: 'wamid.S',
        recipientId: '16315551181',
        status: 'delivered',
        timestampSeconds: 1700000001,
      }),
    )
    expect(delivered).toEqual({
      ok: true,
      webhook: {
        messages: [],
        statuses: [
          {
            phoneNumberId: 'PN1',
            businessAccountId: '200000000000001',
            messageId: 'wamid.S',
            recipientId: '16315551181',
            status: 'delivered',
            timestamp: new Date(1700000001000),
            errors: [],
          },
        ],
        errors: [],
      },
    })
    const failed = parseWhatsAppWebhook(
      whatsAppStatusWebhook({
        phoneNumberId: 'PN1',
        messageId: 'wamid.F',
        recipientId: '1',
        status: 'failed',
        errorCode: 131047,
      }),
    )
    expect(failed.ok && failed.webhook.statuses[0]).toMatchObject({
      status: 'failed',
      errors: [{ code: 131047, title: 'Re-engagement message', details: 'failed in test' }],
    })
  })

  it('handles batches across entries and numbers, and skips other fields', () => {
    const a = change({ messages: [{ from: '1', id: 'a', timestamp: '1', type: 'text', text: { body: 'A' } }] }, 'PN_A')
    const b = change({ messages: [{ from: '2', id: 'b', timestamp: '1', type: 'text', text: { body: 'B' } }] }, 'PN_B')
    const payload = {
      object: 'whatsapp_business_account',
      entry: [
        ...a.entry,
        ...b.entry,
        { id: 'WABA1', changes: [{ field: 'message_template_status_update', value: { event: 'APPROVED' } }] },
      ],
    }
    const result = parseWhatsAppWebhook(payload)
    expect(result.ok && result.webhook.messages.map((m) => [m.phoneNumberId, m.text])).toEqual([
      ['PN_A', 'A'],
      ['PN_B', 'B'],
    ])
  })

  it('reports errors about the number itself', () => {
    const result = parseWhatsAppWebhook(
      change({ errors: [{ code: 131000, title: 'Something went wrong', message: 'x', error_data: { details: 'y' } }] }),
    )
    expect(result.ok && result.webhook.errors).toEqual([
      { phoneNumberId: 'PN1', errors: [{ code: 131000, title: 'Something went wrong', message: 'x', details: 'y' }] },
    ])
  })

  it('rejects malformed bodies with a clear error instead of throwing', () => {
    expect(parseWhatsAppWebhookBody('not json')).toEqual({ ok: false, error: 'invalid_json' })
    expect(parseWhatsAppWebhookBody('{}')).toEqual({ ok: false, error: 'invalid_payload' })
    expect(parseWhatsAppWebhook({ object: 'page', entry: [] })).toEqual({ ok: false, error: 'invalid_payload' })
    expect(
      parseWhatsAppWebhook({
        object: 'whatsapp_business_account',
        entry: [{ changes: [{ field: 'messages', value: {} }] }],
      }),
    ).toEqual({ ok: false, error: 'invalid_payload' })
  })

  it('drops message items without the fields needed to route or dedupe them', () => {
    const result = parseWhatsAppWebhook(
      change({
        messages: [
          { from: '1', type: 'text', text: { body: 'no id' } },
          { id: 'x', type: 'text' },
        ],
      }),
    )
    expect(result).toEqual({ ok: true, webhook: { messages: [], statuses: [], errors: [] } })
  })
})

describe('isInsideServiceWindow', () => {
  const last = new Date('2025-03-01T12:00:00Z')
  it('is open for 24 hours after the customer’s last message', () => {
    expect(isInsideServiceWindow(last, new Date('2025-03-02T11:59:59Z'))).toBe(true)
    expect(isInsideServiceWindow(last, new Date('2025-03-02T12:00:00Z'))).toBe(false)
    expect(isInsideServiceWindow(last, new Date('2025-03-01T11:59:00Z'))).toBe(true)
  })
  it('is closed when the customer never wrote', () => {
    expect(isInsideServiceWindow(null, last)).toBe(false)
    expect(serviceWindowClosesAt(null)).toBeNull()
    expect(serviceWindowClosesAt(last)).toEqual(new Date('2025-03-02T12:00:00Z'))
  })
})
