// Token-bucket rate limiting for the public web chat endpoint, per visitor and per tenant.
// A bucket refills continuously and allows short bursts up to its capacity. The core is a
// pure function of (bucket, policy, now) so it is testable without timers and could equally
// keep its state in the database; RateLimiter wraps it with an in-memory map for one process.

export interface RateLimitPolicy {
  /** Largest burst allowed. */
  capacity: number
  /** Sustained rate. */
  refillPerSecond: number
}

export interface TokenBucket {
  tokens: number
  updatedAtMs: number
}

export type RateLimitDecision =
  | { allowed: true; bucket: TokenBucket; remaining: number }
  | { allowed: false; bucket: TokenBucket; retryAfterMs: number }

/** Takes `cost` tokens from the bucket (a fresh bucket starts full). Never mutates its input. */
export function takeToken(
  bucket: TokenBucket | undefined,
  policy: RateLimitPolicy,
  now: Date,
  cost = 1,
): RateLimitDecision {
  const nowMs = now.getTime()
  const last = bucket ?? { tokens: policy.capacity, updatedAtMs: nowMs }
  // A clock that steps backwards must not mint tokens.
  const elapsedMs = Math.max(0, nowMs - last.updatedAtMs)
  const tokens = Math.min(policy.capacity, last.tokens + (elapsedMs / 1000) * policy.refillPerSecond)
  if (tokens >= cost) {
    const next = { tokens: tokens - cost, updatedAtMs: Math.max(nowMs, last.updatedAtMs) }
    return { allowed: true, bucket: next, remaining: Math.floor(next.tokens) }
  }
  const missing = cost - tokens
  const retryAfterMs = policy.refillPerSecond > 0 ? Math.ceil((missing / policy.refillPerSecond) * 1000) : Infinity
  return { allowed: false, bucket: { tokens, updatedAtMs: Math.max(nowMs, last.updatedAtMs) }, retryAfterMs }
}

/**
 * Buckets by key (e.g. `visitor:<id>`, `tenant:<id>`). Memory is bounded: when full, the
 * least recently used key is forgotten, which at worst gives that key a fresh bucket.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly policy: RateLimitPolicy,
    private readonly maxKeys = 10_000,
  ) {}

  take(key: string, now: Date, cost = 1): RateLimitDecision {
    const decision = takeToken(this.buckets.get(key), this.policy, now, cost)
    this.buckets.delete(key) // re-insert to keep Map order = recency
    this.buckets.set(key, decision.bucket)
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value
      if (oldest !== undefined) this.buckets.delete(oldest)
    }
    return decision
  }
}
