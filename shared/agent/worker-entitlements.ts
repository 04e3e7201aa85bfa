// The plan, as the worker sees it right before a model call. A reply job may have waited
// in the queue while its tenant went over its monthly tokens or had its agents paused
// (past_due beyond grace, canceled, unpaid); the database decides (api.check_entitlement)
// and, when it refuses, records what ingest would have done (api.enforce_reply_entitlement:
// the polite notice to deliver and one alert, or silence while paused). The texts and
// the rules live in SQL only.
//
// These two service functions are called over PostgREST (`/rest/v1/rpc/<fn>`, the api
// schema) with the worker's service key, the way supabase-js does it.

import { z } from 'zod'
import { StoreError } from './store.ts'

export const entitlementSchema = z.object({
  allowed: z.boolean(),
  reason: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
})
export type Entitlement = z.infer<typeof entitlementSchema>

export const replyEntitlementSchema = z.object({
  allowed: z.boolean(),
  reason: z.enum(['paused', 'monthly_messages', 'monthly_tokens']).nullable(),
  pause_reason: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
  notice_message_id: z.string().uuid().nullable(),
})
export type ReplyEntitlement = z.infer<typeof replyEntitlementSchema>

export interface EntitlementGate {
  /** api.check_entitlement: may this tenant's agents answer now? */
  check(tenantId: string): Promise<Entitlement>
  /** api.enforce_reply_entitlement: the decision for one queued reply, and its effects when refused. */
  enforceForReply(input: {
    tenantId: string
    conversationId: string
    messageId: string
    idempotencyKey: string
    agentId: string | null
  }): Promise<ReplyEntitlement>
}

export function createEntitlementGate(options: {
  supabaseUrl: string
  serviceRoleKey: string
  fetch?: typeof fetch
  timeoutMs?: number
}): EntitlementGate {
  const doFetch = options.fetch ?? globalThis.fetch
  const base = options.supabaseUrl.replace(/\/+$/, '')

  async function rpc<T>(fn: string, args: Record<string, unknown>, schema: z.ZodType<T>): Promise<T> {
    let response: Response
    try {
      response = await doFetch(`${base}/rest/v1/rpc/${fn}`, {
        method: 'POST',
        headers: {
          apikey: options.serviceRoleKey,
          authorization: `Bearer ${options.serviceRoleKey}`,
          'content-type': 'application/json',
          'content-profile': 'api',
          accept: 'application/json',
        },
        body: JSON.stringify(args),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      })
    } catch (error) {
      throw new StoreError(fn, null, error instanceof Error ? error.message : String(error))
    }
    const body: unknown = await response.json().catch(() => null)
    if (!response.ok) {
      const detail = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; message?: unknown }
      throw new StoreError(
        fn,
        typeof detail.code === 'string' ? detail.code : null,
        typeof detail.message === 'string' ? detail.message : `HTTP ${response.status}`,
      )
    }
    const parsed = schema.safeParse(body)
    if (!parsed.success) throw new StoreError(fn, 'shape', `unexpected result: ${z.prettifyError(parsed.error)}`)
    return parsed.data
  }

  return {
    check: (tenantId) => rpc('check_entitlement', { tenant_id: tenantId }, entitlementSchema),
    enforceForReply: (input) =>
      rpc(
        'enforce_reply_entitlement',
        {
          tenant_id: input.tenantId,
          conversation_id: input.conversationId,
          message_id: input.messageId,
          idempotency_key: input.idempotencyKey,
          agent_id: input.agentId,
        },
        replyEntitlementSchema,
      ),
  }
}
