// Slack re-delivers an event when we do not answer 2xx within 3 seconds, up to three
// times, marking each with X-Slack-Retry-Num / X-Slack-Retry-Reason. Recognising a retry
// lets the function ack it at once; the ingest call still dedupes by event id, because a
// retry can also arrive while the first delivery is still being processed.
import { readHeader, type HeaderSource } from '../headers.ts'

export interface SlackRetry {
  retryNum: number
  /** e.g. http_timeout, http_error, too_many_connections, ssl_error, unknown_error */
  reason: string | null
}

/** The retry details, or null for a first delivery. */
export function readSlackRetry(headers: HeaderSource): SlackRetry | null {
  const num = readHeader(headers, 'x-slack-retry-num')?.trim()
  if (num === undefined || !/^\d+$/.test(num)) return null
  return { retryNum: Number(num), reason: readHeader(headers, 'x-slack-retry-reason') ?? null }
}

export function isSlackRetry(headers: HeaderSource): boolean {
  const retry = readSlackRetry(headers)
  return retry !== null && retry.retryNum > 0
}
