import { describe, expect, it } from 'vitest'
import { verifySlackRequest } from '../../../shared/channels/slack/verify-request.ts'
import { isSlackRetry, readSlackRetry } from '../../../shared/channels/slack/retries.ts'
import { signSlackRequest } from '../../fakes/fake-slack.ts'

const secret = '8f742231b10e8888abcd99yyyzzz85a5'
const now = new Date('2025-03-01T12:00:00Z')
const nowSeconds = Math.floor(now.getTime() / 1000)
const body = JSON.stringify({ type: 'event_callback', team_id: 'T1', event: { type: 'app_mention', text: 'héllo ✓' } })

function signed(overrides: Partial<Parameters<typeof verifySlackRequest>[0]> = {}) {
  const headers = signSlackRequest(secret, body, nowSeconds)
  return verifySlackRequest({
    signingSecret: secret,
    body,
    timestamp: headers['x-slack-request-timestamp'],
    signature: headers['x-slack-signature'],
    now,
    ...overrides,
  })
}

describe('verifySlackRequest', () => {
  it('accepts a body signed with the real v0 algorithm', async () => {
    expect(await signed()).toEqual({ ok: true })
  })

  it('matches the example in Slack’s documentation', async () => {
    // https://api.slack.com/authentication/verifying-requests-from-slack
    const docBody =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'
    const result = await verifySlackRequest({
      signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
      body: docBody,
      timestamp: '1531420618',
      signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
      now: new Date(1531420618 * 1000),
    })
    expect(result).toEqual({ ok: true })
  })

  it('accepts the raw bytes as well as the text', async () => {
    const headers = signSlackRequest(secret, body, nowSeconds)
    const result = await verifySlackRequest({
      signingSecret: secret,
      body: new TextEncoder().encode(body),
      timestamp: headers['x-slack-request-timestamp'],
      signature: headers['x-slack-signature'],
      now,
    })
    expect(result.ok).toBe(true)
  })

  it('rejects a body changed by one byte', async () => {
    const tampered = body.replace('T1', 'T2')
    expect(await signed({ body: tampered })).toEqual({ ok: false, reason: 'signature_mismatch' })
  })

  it('rejects the wrong secret', async () => {
    expect(await signed({ signingSecret: 'another-secret' })).toEqual({ ok: false, reason: 'signature_mismatch' })
  })

  it('rejects a stale timestamp, and a replay of a once valid request later', async () => {
    const sixMinutesLater = new Date(now.getTime() + 6 * 60 * 1000)
    expect(await signed({ now: sixMinutesLater })).toEqual({ ok: false, reason: 'stale_timestamp' })
    const fourMinutesLater = new Date(now.getTime() + 4 * 60 * 1000)
    expect(await signed({ now: fourMinutesLater })).toEqual({ ok: true })
  })

  it('rejects a timestamp from the future beyond the window', async () => {
    expect(await signed({ now: new Date(now.getTime() - 6 * 60 * 1000) })).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    })
  })

  it('rejects a signature made for another timestamp', async () => {
    const headers = signSlackRequest(secret, body, nowSeconds - 10)
    expect(await signed({ signature: headers['x-slack-signature'] })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('gives a clear reason for missing or malformed headers, without throwing', async () => {
    expect(await signed({ signature: null })).toEqual({ ok: false, reason: 'missing_signature' })
    expect(await signed({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing_timestamp' })
    expect(await signed({ timestamp: '12abc' })).toEqual({ ok: false, reason: 'invalid_timestamp' })
    expect(await signed({ timestamp: '-5' })).toEqual({ ok: false, reason: 'invalid_timestamp' })
    expect(await signed({ signature: 'v1=abcd' })).toEqual({ ok: false, reason: 'unsupported_version' })
    expect(await signed({ signature: 'v0=zz' })).toEqual({ ok: false, reason: 'malformed_signature' })
    expect(await signed({ signature: 'v0=' + 'a'.repeat(62) })).toEqual({ ok: false, reason: 'malformed_signature' })
    expect(await signed({ signature: 'v0=a=b' })).toEqual({ ok: false, reason: 'unsupported_version' })
    expect(await signed({ signingSecret: '' })).toEqual({ ok: false, reason: 'missing_secret' })
  })
})

describe('Slack retries', () => {
  it('reads X-Slack-Retry-Num and reason from Headers or a plain record', () => {
    const headers = new Headers({ 'X-Slack-Retry-Num': '2', 'X-Slack-Retry-Reason': 'http_timeout' })
    expect(readSlackRetry(headers)).toEqual({ retryNum: 2, reason: 'http_timeout' })
    expect(isSlackRetry(headers)).toBe(true)
    expect(isSlackRetry({ 'x-slack-retry-num': '1' })).toBe(true)
  })

  it('treats a first delivery or a nonsense header as not a retry', () => {
    expect(isSlackRetry(new Headers())).toBe(false)
    expect(isSlackRetry({ 'x-slack-retry-num': 'abc' })).toBe(false)
    expect(readSlackRetry({})).toBeNull()
  })
})
