// Every function caps a request body before reading it: an endless body from an unsigned
// sender is cut off at the cap (413), nothing is parsed and nothing is stored.
import { describe, expect, it } from 'vitest'
import { createStripeWebhookHandler } from '../../../shared/billing/webhook.ts'
import { createSlackOAuthHandler } from '../../../shared/channels/handlers/slack-oauth.ts'
import { MAX_WEBHOOK_BODY_BYTES, readJsonBody } from '../../../shared/net/request-body.ts'

/** A body that never ends, counting what the reader pulled. */
function endlessBody() {
  let pulled = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 64 * 1024
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x7b))
    },
  })
  return { stream, pulled: () => pulled }
}

function post(url: string, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  return new Request(url, { method: 'POST', body, headers, duplex: 'half' } as RequestInit)
}

describe('body caps', () => {
  it('stripe-webhook answers 413 to an endless body, having read no more than the cap', async () => {
    const calls: string[] = []
    const handler = createStripeWebhookHandler(
      { webhookSecret: 'whsec_test', toleranceSeconds: 300 },
      { rpc: (async (fn: string) => void calls.push(fn)) as never, log: () => {} },
    )
    const body = endlessBody()
    const response = await handler(
      post('http://x.test/stripe-webhook', body.stream, { 'stripe-signature': 't=1,v1=00' }),
    )
    expect(response.status).toBe(413)
    expect(body.pulled()).toBeLessThanOrEqual(MAX_WEBHOOK_BODY_BYTES + 2 * 64 * 1024)
    expect(calls).toEqual([])
  })

  it('stripe-webhook refuses a declared oversize body without reading it', async () => {
    const handler = createStripeWebhookHandler(
      { webhookSecret: 'whsec_test', toleranceSeconds: 300 },
      { rpc: (async () => null) as never, log: () => {} },
    )
    const body = endlessBody()
    const response = await handler(
      post('http://x.test/stripe-webhook', body.stream, {
        'stripe-signature': 't=1,v1=00',
        'content-length': String(50 * 1024 * 1024),
      }),
    )
    expect(response.status).toBe(413)
    expect(body.pulled()).toBeLessThanOrEqual(2 * 64 * 1024)
  })

  it('slack-oauth answers 413 to an oversize POST', async () => {
    const handler = createSlackOAuthHandler({
      clientId: 'c',
      clientSecret: 's',
      stateSecret: 's',
      redirectUri: 'http://x.test/cb',
      authorizeUrl: 'http://x.test/authorize',
      apiUrl: 'http://x.test/api',
      verifyUser: async () => null,
      rpc: (async () => null) as never,
      log: () => {},
    })
    const body = endlessBody()
    const response = await handler(post('http://x.test/functions/v1/slack-oauth', body.stream))
    expect(response.status).toBe(413)
    expect(body.pulled()).toBeLessThanOrEqual(256 * 1024)
  })

  it('readJsonBody parses, refuses non-JSON and reads an empty body as null', async () => {
    const req = (body: string) => new Request('http://x.test', { method: 'POST', body })
    expect(await readJsonBody(req('{"a":1}'))).toEqual({ ok: true, value: { a: 1 } })
    expect(await readJsonBody(req('{'))).toEqual({ ok: false, reason: 'not_json' })
    expect(await readJsonBody(req(''))).toEqual({ ok: true, value: null })
  })
})
