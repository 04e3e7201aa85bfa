// How long the worker waits before retrying a failed job: the service's own Retry-After
// (a channel's or the model server's) when it gave one, never less than the configured base.
import { describe, expect, it } from 'vitest'
import { AgentTurnFailed } from '../../../shared/agent/loop.ts'
import { ModelCallFailed, ModelError } from '../../../shared/agent/model.ts'
import { retryBaseDelaySeconds } from '../../../shared/agent/worker/failures.ts'
import { DeliveryFailed } from '../../../shared/agent/worker/deliveries.ts'

const modelFailure = (error: ModelError) =>
  new AgentTurnFailed(
    new ModelCallFailed([{ model: 'm', ok: false, errorKind: error.kind, latencyMs: 1 }], error),
    [],
    [],
  )

describe('retryBaseDelaySeconds', () => {
  it("waits out a rate-limited model's Retry-After", () => {
    expect(retryBaseDelaySeconds(modelFailure(new ModelError('rate_limited', '429', 429, 30)), 10)).toBe(30)
    expect(retryBaseDelaySeconds(modelFailure(new ModelError('rate_limited', '429', 429, 2.2)), 1)).toBe(3)
  })

  it('never goes below the base, and uses it when nothing was asked', () => {
    expect(retryBaseDelaySeconds(modelFailure(new ModelError('rate_limited', '429', 429, 3)), 10)).toBe(10)
    expect(retryBaseDelaySeconds(modelFailure(new ModelError('rate_limited', '429', 429, null)), 10)).toBe(10)
    expect(retryBaseDelaySeconds(modelFailure(new ModelError('http', '500', 500)), 10)).toBe(10)
    expect(retryBaseDelaySeconds(new Error('database hiccup'), 10)).toBe(10)
  })

  it("waits out a channel's Retry-After", () => {
    expect(retryBaseDelaySeconds(new DeliveryFailed('slack 429', false, 45_000), 10)).toBe(45)
    expect(retryBaseDelaySeconds(new DeliveryFailed('slack 500', false), 10)).toBe(10)
  })
})
