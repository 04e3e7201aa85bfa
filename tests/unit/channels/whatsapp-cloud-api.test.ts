import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createWhatsAppClient,
  WhatsAppApiError,
  WhatsAppRateLimitError,
} from '../../../shared/channels/whatsapp/cloud-api.ts'
import { startFakeWhatsApp, type FakeWhatsApp } from '../../fakes/fake-whatsapp.ts'

let whatsapp: FakeWhatsApp
beforeAll(async () => {
  whatsapp = await startFakeWhatsApp({ accessToken: 'EAAG-test' })
})
afterAll(() => whatsapp.close())

const client = () => createWhatsAppClient({ accessToken: 'EAAG-test', apiUrl: whatsapp.url })

describe('WhatsApp Cloud API client', () => {
  it('sends text to /v21.0/{phone_number_id}/messages and returns the wamid', async () => {
    const { messageId } = await client().sendText({
      phoneNumberId: 'PN1',
      to: '16315551181',
      text: 'Hello!',
      replyTo: 'wamid.in',
    })
    expect(messageId).toMatch(/^wamid\./)
    const request = whatsapp.requests.at(-1)!
    expect(request.path).toBe('/v21.0/PN1/messages')
    expect(request.headers['authorization']).toBe('Bearer EAAG-test')
    expect(request.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '16315551181',
      type: 'text',
      text: { body: 'Hello!', preview_url: false },
      context: { message_id: 'wamid.in' },
    })
    expect(whatsapp.sent.at(-1)).toMatchObject({ phoneNumberId: 'PN1', to: '16315551181', messageId })
  })

  it('uses the configured Graph API version', async () => {
    await createWhatsAppClient({ accessToken: 'EAAG-test', apiUrl: whatsapp.url, apiVersion: 'v22.0' }).sendText({
      phoneNumberId: 'PN1',
      to: '1',
      text: 'x',
    })
    expect(whatsapp.requests.at(-1)!.path).toBe('/v22.0/PN1/messages')
  })

  it('sends reply buttons, templates and read receipts', async () => {
    await client().sendButtons({
      phoneNumberId: 'PN1',
      to: '1',
      body: 'Book the meeting?',
      buttons: [
        { id: 'confirm:1', title: 'Confirm' },
        { id: 'cancel:1', title: 'Cancel' },
      ],
      footer: 'Konstruct',
    })
    expect(whatsapp.requests.at(-1)!.body).toMatchObject({
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Book the meeting?' },
        footer: { text: 'Konstruct' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'confirm:1', title: 'Confirm' } },
            { type: 'reply', reply: { id: 'cancel:1', title: 'Cancel' } },
          ],
        },
      },
    })
    await client().sendTemplate({
      phoneNumberId: 'PN1',
      to: '1',
      template: { name: 'follow_up', languageCode: 'en_US' },
    })
    expect(whatsapp.requests.at(-1)!.body).toMatchObject({
      type: 'template',
      template: { name: 'follow_up', language: { code: 'en_US' } },
    })
    await client().markAsRead({ phoneNumberId: 'PN1', messageId: 'wamid.in', showTyping: true })
    expect(whatsapp.requests.at(-1)!.body).toEqual({
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: 'wamid.in',
      typing_indicator: { type: 'text' },
    })
    expect(whatsapp.readReceipts.at(-1)).toEqual({ phoneNumberId: 'PN1', messageId: 'wamid.in' })
  })

  it('refuses messages WhatsApp would reject, before sending', async () => {
    const count = whatsapp.requests.length
    await expect(client().sendText({ phoneNumberId: 'PN1', to: '1', text: 'x'.repeat(4097) })).rejects.toThrow(
      RangeError,
    )
    await expect(client().sendButtons({ phoneNumberId: 'PN1', to: '1', body: 'b', buttons: [] })).rejects.toThrow(
      RangeError,
    )
    await expect(
      client().sendButtons({
        phoneNumberId: 'PN1',
        to: '1',
        body: 'b',
        buttons: [{ id: 'a', title: 'A title that is far too long' }],
      }),
    ).rejects.toThrow(RangeError)
    expect(whatsapp.requests.length).toBe(count)
  })

  it.each([
    [130429, 2_000],
    [131056, 6_000],
    [80007, 60_000],
  ])('turns throttling code %i into a retryable rate-limit error with a suggested delay', async (code, delay) => {
    whatsapp.failNext({ kind: 'graph_error', code })
    const error = await client()
      .sendText({ phoneNumberId: 'PN1', to: '1', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WhatsAppRateLimitError)
    expect(error).toMatchObject({ code, retryAfterMs: delay, retryable: true })
  })

  it('honours Retry-After on an HTTP 429', async () => {
    whatsapp.failNext({ kind: 'http_429', retryAfter: 3 })
    const error = await client()
      .sendText({ phoneNumberId: 'PN1', to: '1', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WhatsAppRateLimitError)
    expect(error).toMatchObject({ code: null, retryAfterMs: 3_000 })
  })

  it('recognises the closed service window, auth failures and Meta outages', async () => {
    whatsapp.failNext({ kind: 'graph_error', code: 131047 })
    const window = (await client()
      .sendText({ phoneNumberId: 'PN1', to: '1', text: 'x' })
      .catch((e: unknown) => e)) as WhatsAppApiError
    expect(window).toBeInstanceOf(WhatsAppApiError)
    expect(window.outsideServiceWindow).toBe(true)
    expect(window.retryable).toBe(false)
    expect(window.details).toBe('Re-engagement message')

    const auth = (await createWhatsAppClient({ accessToken: 'wrong', apiUrl: whatsapp.url })
      .sendText({ phoneNumberId: 'PN1', to: '1', text: 'x' })
      .catch((e: unknown) => e)) as WhatsAppApiError
    expect(auth.isAuthError).toBe(true)

    whatsapp.failNext({ kind: 'http_500' })
    const outage = (await client()
      .sendText({ phoneNumberId: 'PN1', to: '1', text: 'x' })
      .catch((e: unknown) => e)) as WhatsAppApiError
    expect(outage).toMatchObject({ status: 500, retryable: true })
  })

  it('scripts failures for one number only', async () => {
    whatsapp.failNext({ kind: 'http_500' }, { phoneNumberId: 'PN_OTHER' })
    await expect(client().sendText({ phoneNumberId: 'PN1', to: '1', text: 'fine' })).resolves.toMatchObject({
      messageId: expect.stringMatching(/^wamid\./),
    })
    await expect(client().sendText({ phoneNumberId: 'PN_OTHER', to: '1', text: 'x' })).rejects.toBeInstanceOf(
      WhatsAppApiError,
    )
  })
})
