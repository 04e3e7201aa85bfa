import { describe, expect, it } from 'vitest'
import { RateLimiter, takeToken } from '../../../shared/channels/webchat/rate-limit.ts'

const now = new Date('2025-03-01T12:00:00Z')

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
