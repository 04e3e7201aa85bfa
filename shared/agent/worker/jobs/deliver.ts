// The deliver job: sends one recorded outbound message (an answer, a notice, an apology,
// a member's words) to its channel, once. A delivery lease (api.begin_delivery) keeps two
// workers holding the same job from both posting; the outcome becomes the message's
// delivery status.

import { z } from 'zod'
import type { AuditRecord, DeliveryLease, DeliveryStatus, QueueName } from '../../store.ts'
import type { WorkerContext } from '../context.ts'
import { DeliveryFailed } from '../deliveries.ts'
import type { JobKind } from '../executor.ts'
import { RetryLater } from '../failures.ts'
import { alertAndGoOn, alertEntry, clearThinking } from '../records.ts'

export const deliverJobSchema = z.object({
  kind: z.literal('deliver'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  message_id: z.string().uuid(),
})
export type DeliverJob = z.infer<typeof deliverJobSchema>

/** Sends a recorded outbound message once; throws to retry, returns quietly when done. */
export async function deliverMessage(ctx: WorkerContext, tenantId: string, messageId: string): Promise<string> {
  const lease = await ctx.store.beginDelivery(tenantId, messageId, ctx.config.deliveryLeaseSeconds)
  return (await deliverLeased(ctx, tenantId, lease)).outcome
}

/**
 * Sends a message whose lease was taken (api.begin_delivery, or api.finish_reply). With a
 * job, the call that records the message sent also completes it (api.settle_delivery):
 * completed says so. A delivery that gives up records its alert in that same call, and a
 * withheld answer its audit entry. Other outcomes have more to do after them (the
 * "thinking" taken away), so their job is completed after those, as always.
 */
export async function deliverLeased(
  ctx: WorkerContext,
  tenantId: string,
  lease: DeliveryLease,
  job: { queue: QueueName; jobId: number } | null = null,
): Promise<{ outcome: string; completed: boolean }> {
  const { store } = ctx
  const messageId = lease.message.id
  const settle = async (
    status: DeliveryStatus,
    externalId: string | null,
    error: string | null,
    alert: AuditRecord | null = null,
  ) =>
    (
      await store.settleDelivery({
        tenantId,
        messageId,
        status,
        externalId,
        error,
        job: status === 'sent' ? job : null,
        alert,
      })
    ).completed
  const status = lease.message.delivery_status
  if (['sent', 'delivered', 'read', 'undeliverable'].includes(status)) {
    return { outcome: `already_${status}`, completed: false }
  }
  if (!lease.acquired) throw new RetryLater('another worker is delivering this message')
  const conversationId = lease.conversation.id
  if (lease.connection.status !== 'active') {
    // The alert in the same transaction as the status, here and below: whoever sees the
    // message undeliverable finds it too, and a retry after a failed call records it once.
    const reason = 'the channel connection is disabled'
    await settle(
      'undeliverable',
      null,
      reason,
      alertEntry('delivery_failed', conversationId, { message_id: messageId, reason }),
    )
    return { outcome: 'undeliverable', completed: false }
  }
  // A member took over while this answer was being written: the agent stays silent from
  // then on (the member's own replies still go out). Kept, marked, and audited for the portal.
  if (lease.conversation.status === 'human' && lease.message.author_kind !== 'member') {
    // Its audit entry goes with the status, like an alert: a retry after a failed call writes it once.
    await settle('undeliverable', null, 'withheld: a team member took over the conversation before it was sent', {
      action: 'agent.reply_withheld',
      entityType: 'conversation',
      entityId: conversationId,
      details: {
        message_id: messageId,
        author_kind: lease.message.author_kind,
        assigned_member_id: lease.conversation.assigned_member_id,
      },
    })
    const inReplyTo = lease.message.metadata['in_reply_to']
    if (typeof inReplyTo === 'string') {
      await clearThinking(ctx, {
        conversation: lease.conversation,
        connection: lease.connection,
        inboundMessageId: inReplyTo,
      })
    }
    return { outcome: 'withheld', completed: false }
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
    return { outcome: 'sent', completed: await settle('sent', sent.externalId, null) }
  } catch (error) {
    const failure =
      error instanceof DeliveryFailed
        ? error
        : new DeliveryFailed(error instanceof Error ? error.message : String(error), false)
    if (failure.permanent) {
      await settle(
        'undeliverable',
        null,
        failure.message.slice(0, 500),
        alertEntry('delivery_failed', conversationId, { message_id: messageId, reason: failure.message }),
      )
      return { outcome: 'undeliverable', completed: false }
    }
    // Recorded as failed: frees the lease, shows the portal, and the job retries it.
    await store.setDeliveryStatus(tenantId, messageId, 'failed', null, failure.message.slice(0, 500))
    throw failure
  }
}

export function deliverJob(ctx: WorkerContext): JobKind<DeliverJob> {
  return {
    schema: deliverJobSchema,
    run: async (job, run) =>
      deliverLeased(
        ctx,
        job.tenant_id,
        await ctx.store.beginDelivery(job.tenant_id, job.message_id, ctx.config.deliveryLeaseSeconds),
        { queue: run.queue, jobId: run.jobId },
      ),
    async deadLetter(job, letter) {
      // The alert comes first: whoever sees the message marked failed finds the alert too.
      await alertAndGoOn(ctx, job.tenant_id, 'delivery_failed', job.conversation_id, {
        message_id: job.message_id,
        attempts: letter.attempts,
        error: letter.reason,
      })
      await ctx.store
        .setDeliveryStatus(job.tenant_id, job.message_id, 'failed', null, 'gave up delivering after retries')
        .catch(() => {})
    },
  }
}
