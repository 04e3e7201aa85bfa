// What a sender has already done for one outbound message, kept in the database
// (metadata.delivery through api.record_delivery_progress) right after each channel call.
// A worker that crashes or retries after posting part of an answer resumes from here
// instead of posting it again: every part, the placeholder and a template are sent at
// most once, except for the unavoidable instant between a channel's "ok" and this record.
import { type Api } from '../../api/client.ts'

export type DeliveryProgress = Record<string, unknown>

export interface DeliveryProgressStore {
  load(): Promise<DeliveryProgress>
  save(patch: DeliveryProgress): Promise<void>
}

/** Progress of one message in the database, through the service api. */
export function rpcProgressStore(rpc: Api, tenantId: string, messageId: string): DeliveryProgressStore {
  return {
    async load() {
      const found = await rpc<{ delivery?: DeliveryProgress } | null>('get_outbound_delivery', {
        tenant_id: tenantId,
        message_id: messageId,
      })
      return found?.delivery ?? {}
    },
    async save(patch) {
      await rpc('record_delivery_progress', { tenant_id: tenantId, message_id: messageId, progress: patch })
    },
  }
}

/** In memory, for tests and callers that keep their own record. */
export function memoryProgressStore(
  initial: DeliveryProgress = {},
): DeliveryProgressStore & { value: DeliveryProgress } {
  const store = {
    value: { ...initial },
    async load() {
      return { ...store.value }
    },
    async save(patch: DeliveryProgress) {
      store.value = { ...store.value, ...patch }
    },
  }
  return store
}

/** What became of a delivery. Channel errors are outcomes, never thrown. */
export type DeliveryOutcome =
  /** Everything is out (now, or by an earlier attempt: resumed = true). */
  | { outcome: 'sent'; externalId: string; parts: number; resumed: boolean; via: 'text' | 'template' | 'stream' }
  /** Cannot be delivered and retrying will not help; the reason is for admins. */
  | { outcome: 'undeliverable'; reason: string }
  /** Try again later (rate limit, outage); what was sent so far is recorded. */
  | { outcome: 'retry'; reason: string; retryAfterMs: number | null }

export function partsRecord(progress: DeliveryProgress, key: string): Record<string, string> {
  const value = progress[key]
  if (typeof value !== 'object' || value === null) return {}
  const parts: Record<string, string> = {}
  for (const [index, id] of Object.entries(value as Record<string, unknown>))
    if (typeof id === 'string') parts[index] = id
  return parts
}
