// The plan, as the worker sees it right before a model call. A reply job may have waited
// in the queue while its tenant went over its monthly tokens, had its agents paused
// (past_due beyond grace, canceled, unpaid) or was suspended by a platform admin; the
// database decides (app.billing_refusal, read with the job by api.prepare_reply) and, when
// it refuses, records what ingest would have done (api.enforce_reply_entitlement: the
// polite notice to deliver, with one alert when over the plan, or silence while paused).
// The texts and the rules live in SQL only.
//
// The service function is called through the worker's api client (its secret key).

import { z } from 'zod'
import { ApiError, type Api } from '../../api/client.ts'

export const replyEntitlementSchema = z.object({
  allowed: z.boolean(),
  reason: z.enum(['suspended', 'paused', 'monthly_messages', 'monthly_tokens']).nullable(),
  pause_reason: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
  notice_message_id: z.string().uuid().nullable(),
})
export type ReplyEntitlement = z.infer<typeof replyEntitlementSchema>

export interface EntitlementGate {
  /** api.enforce_reply_entitlement: the decision for one queued reply, and its effects when refused. */
  enforceForReply(input: {
    tenantId: string
    conversationId: string
    messageId: string
    idempotencyKey: string
    agentId: string | null
  }): Promise<ReplyEntitlement>
}

export function createEntitlementGate(api: Api): EntitlementGate {
  async function rpc<T>(fn: string, args: Record<string, unknown>, schema: z.ZodType<T>): Promise<T> {
    const parsed = schema.safeParse(await api(fn, args))
    if (!parsed.success) throw new ApiError(fn, 200, 'shape', `unexpected result: ${z.prettifyError(parsed.error)}`)
    return parsed.data
  }

  return {
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
