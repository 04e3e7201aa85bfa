// The deliver job: sends one recorded outbound message (an answer, a notice, an apology,
// a member's words) to its channel, once. A delivery lease (api.begin_delivery) keeps two
// workers holding the same job from both posting; the outcome becomes the message's
// delivery status.

import { z } from 'zod'
import type { WorkerContext } from '../context.ts'
import { DeliveryFailed } from '../deliveries.ts'
import type { JobKind } from '../executor.ts'
import { RetryLater } from '../failures.ts'
import { alert, clearThinking } from '../records.ts'

export const deliverJobSchema = z.object({
  kind: z.literal('deliver'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  message_id: z.string().uuid(),
})
export type DeliverJob = z.infer<typeof deliverJobSchema>

/** Sends a recorded outbound message once; throws to retry, returns quietly when done. */
export async function deliverMessage(ctx: WorkerContext, tenantId: string, messageId: string): Promise<string> {
  const { store, config } = ctx
  const lease = await store.beginDelivery(tenantId, messageId, config.deliveryLeaseSeconds)
  const status = lease.message.delivery_status
  if (['sent', 'delivered', 'read', 'undeliverable'].includes(status)) return `already_${status}`
  if (!lease.acquired) throw new RetryLater('another worker is delivering this message')
  const conversationId = lease.conversation.id
  if (lease.connection.status !== 'active') {
    await store.setDeliveryStatus(tenantId, messageId, 'undeliverable', null, 'the channel connection is disabled')
    await alert(ctx, tenantId, 'delivery_failed', conversationId, {
      message_id: messageId,
      reason: 'the channel connection is disabled',
    })
    return 'undeliverable'
  }
  // A member took over while this answer was being written: the agent stays silent from
  // then on (the member's own replies still go out). Kept, marked, and audited for the portal.
  if (lease.conversation.status === 'human' && lease.message.author_kind !== 'member') {
    const reason = 'withheld: a team member took over the conversation before it was sent'
    await store.setDeliveryStatus(tenantId, messageId, 'undeliverable', null, reason)
    await store.recordAudit(tenantId, 'agent.reply_withheld', 'conversation', conversationId, {
      message_id: messageId,
      author_kind: lease.message.author_kind,
      assigned_member_id: lease.conversation.assigned_member_id,
    })
    const inReplyTo = lease.message.metadata['in_reply_to']
    if (typeof inReplyTo === 'string') {
      await clearThinking(ctx, {
        conversation: lease.conversation,
        connection: lease.connection,
        inboundMessageId: inReplyTo,
      })
    }
    return 'withheld'
  }
  if (lease.connection.settingsProblems.length) {
    ctx.log(
      `agent-worker: connection ${lease.connection.connection_id} has stored settings that do not fit; delivering without them`,
      lease.connection.settingsProblems,
    )
  }
  try {
    const sent = await ctx.deliveries[lease.connection.kind].deliver({
      conversation: lease.conversation,
      connection: lease.connection,
      recipient: lease.recipient,
      message: {
        id: lease.message.id,
        text: lease.message.text ?? '',
        authorKind: lease.message.author_kind,
        metadata: lease.message.metadata,
      },
    })
    await store.setDeliveryStatus(tenantId, messageId, 'sent', sent.externalId, null)
    return 'sent'
  } catch (error) {
    const failure =
      error instanceof DeliveryFailed
        ? error
        : new DeliveryFailed(error instanceof Error ? error.message : String(error), false)
    if (failure.permanent) {
      await store.setDeliveryStatus(tenantId, messageId, 'undeliverable', null, failure.message.slice(0, 500))
      await alert(ctx, tenantId, 'delivery_failed', conversationId, { message_id: messageId, reason: failure.message })
      return 'undeliverable'
    }
    // Recorded as failed: frees the lease, shows the portal, and the job retries it.
    await store.setDeliveryStatus(tenantId, messageId, 'failed', null, failure.message.slice(0, 500))
    throw failure
  }
}

export function deliverJob(ctx: WorkerContext): JobKind<DeliverJob> {
  return {
    schema: deliverJobSchema,
    run: (job) => deliverMessage(ctx, job.tenant_id, job.message_id),
    async deadLetter(job, letter) {
      await ctx.store
        .setDeliveryStatus(job.tenant_id, job.message_id, 'failed', null, 'gave up delivering after retries')
        .catch(() => {})
      await alert(ctx, job.tenant_id, 'delivery_failed', job.conversation_id, {
        message_id: job.message_id,
        attempts: letter.attempts,
        error: letter.reason,
      })
    },
  }
}
