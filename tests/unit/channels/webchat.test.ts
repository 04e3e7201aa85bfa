import { describe, expect, it } from 'vitest'
import * as jose from 'jose'
import { mintVisitorToken, verifyVisitorToken } from '../../../shared/channels/webchat/visitor-token.ts'
import { RateLimiter, takeToken } from '../../../shared/channels/webchat/rate-limit.ts'

const secret = 'a-long-random-visitor-token-secret'
const now = new Date('2025-03-01T12:00:00Z')
const input = {
  secret,
  widgetKey: 'wk_live_123',
  connectionId: 'conn-1',
  visitorId: 'visitor-1',
  topic: 'webchat:conn-1:visitor-1',
  now,
}

describe('visitor token', () => {
  it('round-trips its claims', async () => {
    const token = await mintVisitorToken({ ...input, ttlSeconds: 3600 })
    expect(await verifyVisitorToken({ secret, token, now, widgetKey: 'wk_live_123' })).toEqual({
      ok: true,
      widgetKey: 'wk_live_123',
      connectionId: 'conn-1',
      visitorId: 'visitor-1',
      topic: 'webchat:conn-1:visitor-1',
      issuedAt: now,
      expiresAt: new Date(now.getTime() + 3600_000),
    })
  })

  it('is a standard HS256 JWT that an independent library accepts', async () => {
    const token = await mintVisitorToken({ ...input, role: 'anon' })
    const { payload, protectedHeader } = await jose.jwtVerify(token, new TextEncoder().encode(secret), {
      audience: 'konstruct-webchat',
      currentDate: now,
    })
    expect(protectedHeader.alg).toBe('HS256')
    expect(payload).toMatchObject({
      sub: 'visitor-1',
      wk: 'wk_live_123',
      cid: 'conn-1',
      topic: 'webchat:conn-1:visitor-1',
      role: 'anon',
    })
  })

  it('accepts a token minted by an independent library with the same claims', async () => {
    const token = await new jose.SignJWT({ wk: 'wk_live_123', cid: 'conn-1', topic: 't' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('visitor-9')
      .setAudience('konstruct-webchat')
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(now.getTime() / 1000) + 60)
      .sign(new TextEncoder().encode(secret))
    expect(await verifyVisitorToken({ secret, token, now })).toMatchObject({ ok: true, visitorId: 'visitor-9' })
  })

  it('expires (after a small leeway)', async () => {
    const token = await mintVisitorToken({ ...input, ttlSeconds: 60 })
    expect((await verifyVisitorToken({ secret, token, now: new Date(now.getTime() + 80_000) })).ok).toBe(true)
    expect(await verifyVisitorToken({ secret, token, now: new Date(now.getTime() + 91_000) })).toEqual({
      ok: false,
      reason: 'expired',
    })
  })

  it('refuses another widget’s token, a wrong secret and a tampered payload', async () => {
    const token = await mintVisitorToken(input)
    expect(await verifyVisitorToken({ secret, token, now, widgetKey: 'wk_other' })).toEqual({
      ok: false,
      reason: 'wrong_widget',
    })
    expect(await verifyVisitorToken({ secret: 'other', token, now })).toEqual({ ok: false, reason: 'bad_signature' })
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'visitor-2' })).toString('base64url')
    expect(await verifyVisitorToken({ secret, token: `${header}.${forged}.${signature}`, now })).toEqual({
      ok: false,
      reason: 'bad_signature',
    })
  })

  it('refuses alg "none" and other algorithms', async () => {
    const token = await mintVisitorToken(input)
    const [, payload] = token.split('.') as [string, string]
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    expect(await verifyVisitorToken({ secret, token: `${none}.${payload}.`, now })).toEqual({
      ok: false,
      reason: 'unsupported_algorithm',
    })
    const hs512 = Buffer.from(JSON.stringify({ alg: 'HS512', typ: 'JWT' })).toString('base64url')
    expect(await verifyVisitorToken({ secret, token: `${hs512}.${payload}.AAAA`, now })).toEqual({
      ok: false,
      reason: 'unsupported_algorithm',
    })
  })

  it('refuses tokens for another audience and garbage', async () => {
    const other = await new jose.SignJWT({ wk: 'w', cid: 'c', topic: 't' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('v')
      .setAudience('authenticated')
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret))
    expect(await verifyVisitorToken({ secret, token: other, now })).toEqual({ ok: false, reason: 'wrong_audience' })
    expect(await verifyVisitorToken({ secret, token: undefined, now })).toEqual({ ok: false, reason: 'missing' })
    expect(await verifyVisitorToken({ secret, token: 'a.b', now })).toEqual({ ok: false, reason: 'malformed' })
    expect(await verifyVisitorToken({ secret, token: '!!.??.##', now })).toEqual({ ok: false, reason: 'malformed' })
  })
})

describe('token bucket', () => {
  const policy = { capacity: 3, refillPerSecond: 1 }
  const at = (ms: number) => new Date(now.getTime() + ms)

  it('allows a burst up to capacity, then says how long to wait', () => {
    let bucket = undefined as ReturnType<typeof takeToken>['bucket'] | undefined
    const results = [0, 0, 0, 0].map(() => {
      const decision = takeToken(bucket, policy, now)
      bucket = decision.bucket
      return decision
    })
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false])
    expect(results[3]).toMatchObject({ allowed: false, retryAfterMs: 1000 })
  })

  it('refills continuously, never above capacity, and ignores a clock going backwards', () => {
    const empty = { tokens: 0, updatedAtMs: now.getTime() }
    expect(takeToken(empty, policy, at(500)).allowed).toBe(false)
    expect(takeToken(empty, policy, at(1000)).allowed).toBe(true)
    expect(takeToken(empty, policy, at(60_000))).toMatchObject({ allowed: true, remaining: 2 })
    expect(takeToken(empty, policy, at(-60_000)).allowed).toBe(false)
  })

  it('keeps separate buckets per key (visitor and tenant) in a RateLimiter', () => {
    const perVisitor = new RateLimiter({ capacity: 2, refillPerSecond: 0.1 })
    expect(perVisitor.take('visitor:a', now).allowed).toBe(true)
    expect(perVisitor.take('visitor:a', now).allowed).toBe(true)
    expect(perVisitor.take('visitor:a', now).allowed).toBe(false)
    expect(perVisitor.take('visitor:b', now).allowed).toBe(true)
    expect(perVisitor.take('visitor:a', at(10_000)).allowed).toBe(true)
  })

  it('bounds its memory by forgetting the least recently used key', () => {
    const limiter = new RateLimiter({ capacity: 1, refillPerSecond: 0 }, 2)
    limiter.take('a', now)
    limiter.take('b', now)
    limiter.take('c', now) // evicts a
    expect(limiter.take('a', now).allowed).toBe(true)
    expect(limiter.take('c', now).allowed).toBe(false)
  })
})
