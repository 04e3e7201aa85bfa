// The wake-up signature the database puts on pg_net requests (app.wake_function) and
// agent-worker / stripe-meter check: HMAC-SHA256 over "<t>.<raw body>", 5 minutes.
import { createHmac } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { signWake, verifyWake, WAKE_SIGNATURE_MAX_AGE_SECONDS } from '../../../shared/wake/verify-wake.ts'

const secret = 'unit-test-worker-secret-0123456789abcdef'
const body = '{"queue": "agent_jobs", "reason": "enqueued:agent_jobs"}'
const now = new Date('2026-12-06T09:00:00Z')
const t = Math.floor(now.getTime() / 1000)
// Computed independently of the code under test, as the database computes it.
const sqlSignature = (at: number, payload = body, key = secret) =>
  `t=${at},v1=${createHmac('sha256', key).update(`${at}.${payload}`).digest('hex')}`

describe('verifyWake', () => {
  test('accepts what the database signs, and signWake signs the same', async () => {
    expect(await verifyWake(secret, body, sqlSignature(t), now)).toEqual({ ok: true })
    expect(await signWake(secret, body, now)).toBe(sqlSignature(t))
  })

  test('a signature made with another secret is refused', async () => {
    expect(await verifyWake(secret, body, sqlSignature(t, body, 'another-secret'), now)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  test('a changed body is refused', async () => {
    const verdict = await verifyWake(secret, body.replace('agent_jobs"', 'knowledge_jobs"'), sqlSignature(t), now)
    expect(verdict).toEqual({ ok: false, reason: 'signature_mismatch' })
  })

  test('a stale or future timestamp is refused, even when correctly signed', async () => {
    const old = t - WAKE_SIGNATURE_MAX_AGE_SECONDS - 1
    const future = t + WAKE_SIGNATURE_MAX_AGE_SECONDS + 1
    expect(await verifyWake(secret, body, sqlSignature(old), now)).toEqual({ ok: false, reason: 'stale_timestamp' })
    expect(await verifyWake(secret, body, sqlSignature(future), now)).toEqual({ ok: false, reason: 'stale_timestamp' })
    expect(await verifyWake(secret, body, sqlSignature(t - WAKE_SIGNATURE_MAX_AGE_SECONDS), now)).toEqual({ ok: true })
  })

  test('missing or malformed headers, or no secret configured, are refused', async () => {
    expect(await verifyWake(secret, body, null, now)).toEqual({ ok: false, reason: 'missing_signature' })
    expect(await verifyWake(secret, body, `t=${t}`, now)).toEqual({ ok: false, reason: 'malformed_signature' })
    expect(await verifyWake(secret, body, `t=${t},v1=abc`, now)).toEqual({ ok: false, reason: 'malformed_signature' })
    expect(await verifyWake(secret, body, `Bearer ${secret}`, now)).toEqual({
      ok: false,
      reason: 'malformed_signature',
    })
    expect(await verifyWake('', body, sqlSignature(t, body, ''), now)).toEqual({ ok: false, reason: 'missing_secret' })
    expect(await verifyWake(undefined, body, sqlSignature(t), now)).toEqual({ ok: false, reason: 'missing_secret' })
  })
})
