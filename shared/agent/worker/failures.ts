// How the worker reads a failed job: permanent (archive at once) or worth another try,
// how long to wait first, and a short description for fail_job and the audit log
// (never shown to chat users).

import { ApiError } from '../../api/client.ts'
import { AgentTurnFailed } from '../loop.ts'
import { DeliveryFailed } from './deliveries.ts'

/** A failure that a retry cannot fix: the job is archived at once. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError'
}

/** Try again later without calling it a fault (e.g. another worker is delivering). */
export class RetryLater extends Error {
  override readonly name = 'RetryLater'
}

export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true
  if (error instanceof ApiError) return error.permanent
  if (error instanceof DeliveryFailed) return error.permanent
  return false
}

export function describeFailure(error: unknown): string {
  if (error instanceof AgentTurnFailed) {
    const attempts = error.failure.attempts.map(
      (a) => `${a.model}:${a.errorKind ?? 'ok'}${a.status ? `/${a.status}` : ''}`,
    )
    return `model call failed (${attempts.join(', ')}): ${error.failure.lastError.kind}`
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 1000)
  return String(error).slice(0, 1000)
}

/**
 * The first delay before a retry: the channel's or the model server's own Retry-After when it
 * sent one (a 429 retried sooner only burns an attempt and ends in the dead-letter queue),
 * else the configured base. fail_job doubles it per attempt and caps it at an hour.
 */
export function retryBaseDelaySeconds(error: unknown, baseSeconds: number): number {
  let askedSeconds: number | null = null
  if (error instanceof DeliveryFailed && error.retryAfterMs) askedSeconds = error.retryAfterMs / 1000
  else if (error instanceof AgentTurnFailed) askedSeconds = error.failure.lastError.retryAfterSeconds
  return askedSeconds && askedSeconds > 0 ? Math.max(baseSeconds, Math.ceil(askedSeconds)) : baseSeconds
}
