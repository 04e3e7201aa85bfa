// The notify_handoff job: a Slack DM about a conversation that needs a human, to the
// people each of the tenant's Slack connections names, with the last messages and a
// link to the conversation in the portal. Queued apart from the reply, so it is retried
// on its own.

import { z } from 'zod'
import { buildHandoffDm, sendHandoffDms } from '../../handoff-notify.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind } from '../executor.ts'

export const notifyHandoffJobSchema = z.object({
  kind: z.literal('notify_handoff'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  reason: z.string(),
  source: z.string().nullable().default(null),
})
export type NotifyHandoffJob = z.infer<typeof notifyHandoffJobSchema>

async function notify(ctx: WorkerContext, job: NotifyHandoffJob): Promise<string> {
  const { store, config } = ctx
  const listed = await store.listHandoffSlackTargets(job.tenant_id)
  for (const target of listed.filter((t) => t.problems.length))
    ctx.log(`agent-worker: connection ${target.connectionId} names people to notify that do not fit`, target.problems)
  const targets = listed.filter((t) => t.userIds.length > 0)
  if (targets.length === 0) return 'skipped:no_one_to_notify'
  const context = await store.getAgentContext(job.tenant_id, job.conversation_id, {
    messageLimit: 12,
    memoryLimit: 0,
  })
  const text = buildHandoffDm({
    reason: job.reason,
    source: job.source,
    channel: context.conversation.channel,
    contactName: context.contact?.display_name ?? context.conversation.contact_name,
    agentName: context.agent?.name ?? null,
    transcript: context.messages.filter((m) => m.text).map((m) => ({ author: m.author_kind, text: m.text ?? '' })),
    conversationUrl: config.portalUrl
      ? `${config.portalUrl.replace(/\/+$/, '')}/t/${job.tenant_id}/conversations/${job.conversation_id}`
      : null,
  })
  const outcomes = await sendHandoffDms(targets, text, {
    getChannelToken: (connectionId) => store.getChannelToken(connectionId),
    slackApiUrl: config.slackApiUrl,
    fetch: ctx.fetch,
  })
  await store.recordAudit(job.tenant_id, 'handoff.slack_dm', 'conversation', job.conversation_id, {
    reason: job.reason,
    recipients: outcomes.map((o) => ({ user_id: o.userId, ok: o.ok, error: o.error ?? null })),
  })
  return `notified:${outcomes.filter((o) => o.ok).length}/${outcomes.length}`
}

export function notifyHandoffJob(ctx: WorkerContext): JobKind<NotifyHandoffJob> {
  return { schema: notifyHandoffJobSchema, run: (job) => notify(ctx, job) }
}
