// The reply job: one answer to a contact's message. A retry finds the reply it already
// wrote (idempotency key `reply:<message id>`) and only delivers it; usage and tool calls
// are keyed per attempt. In order: silence when a human has the conversation, one answer
// for several quick messages, the plan checked again, the budget, a pending confirmation
// answered, the context (persona, history, memories, knowledge), the model turn with its
// tools, then the reply recorded, the hand-off applied, the answer delivered, and memory
// distillation scheduled for when the conversation goes quiet. After the last attempt the
// contact gets an apology (a reply with a deliver job of its own) and the admins an alert.

import { z } from 'zod'
import { readConfirmationAnswer } from '../../../channels/confirmation.ts'
import { assembleContext, type ConversationMessage, type KnowledgePassage } from '../../context.ts'
import type { EscalationRule } from '../../handoff.ts'
import { AgentTurnFailed, runAgentTurn, type AgentTurnResult } from '../../loop.ts'
import {
  preparedReplySchema,
  type AgentContextRecord,
  type AgentRecord,
  type ContextMessage,
  type FoundReply,
  type KnowledgeHit,
  type PendingConfirmationRecord,
  type ReplyContextLimits,
} from '../../store.ts'
import { buildAgentTools, type AgentToolSettings } from '../../tools/agent-tools.ts'
import { searchWeb } from '../../web-search.ts'
import type { ResolveHost } from '../../../net/guarded-fetch.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind, JobOutcome, JobRun } from '../executor.ts'
import {
  alert,
  alertAndGoOn,
  clearThinking,
  meterModelCalls,
  modelCallRecords,
  parseArguments,
  parseResult,
  recordToolCalls,
  reportModelFailure,
  toolStatus,
} from '../records.ts'
import { describeFailure } from '../failures.ts'
import { toConversationMessage } from '../transcript.ts'
import { embedQuery, resolveModel } from '../turn-model.ts'
import { deliverLeased, deliverMessage } from './deliver.ts'

export const replyJobSchema = z.object({
  kind: z.literal('reply'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  message_id: z.string().uuid(),
})
export type ReplyJob = z.infer<typeof replyJobSchema>

export const APOLOGY_TEXT =
  "Sorry, I'm having trouble answering right now. I've let the team know, and someone will get back to you here."
export const BUDGET_TEXT =
  "Sorry, I can't answer right now because this assistant has reached its usage limit for the month. " +
  "I've let the team know, and someone will get back to you here."
const CONFIRM_HINT = 'Reply "yes" to go ahead or "no" to cancel.'

/**
 * Whether a message may answer a pending confirmation: only its author's words count when
 * the confirmation was proposed to a known person (a Slack thread may hold several).
 */
export function answeredByProposedPerson(
  pending: Pick<PendingConfirmationRecord, 'proposed_to_contact_id'>,
  message: Pick<ContextMessage, 'author_contact_id'> | undefined,
): boolean {
  if (!pending.proposed_to_contact_id) return true
  return message?.author_contact_id === pending.proposed_to_contact_id
}

/** The agent's escalation rules (read through shared/agent/settings.ts) as the core's rules. */
export function escalationRulesOf(agent: AgentRecord): EscalationRule[] {
  return agent.settings.escalationRules.map((rule) => ({ name: rule.reason, keywords: rule.keywords }))
}

/** The agent's tools ({tool name: settings}, read through ./settings.ts) as the registry's settings. */
export function toolSettingsOf(agent: AgentRecord): AgentToolSettings {
  const tools = agent.settings.tools
  const http = tools.http_request
  return {
    knowledgeSearch: tools.knowledge_search !== undefined,
    escalateToHuman: tools.escalate_to_human !== undefined,
    httpRequest: http ? { allowHosts: http.allowed_hosts, allowMethods: http.allowed_methods } : null,
    webSearch: tools.web_search !== undefined,
  }
}

/** Knowledge passages a turn starts with. */
const KNOWLEDGE_PASSAGES = 5

/** What a claim reads beside each reply job: the worker's window of history and memories. */
export function replyContextLimits(config: WorkerContext['config']): ReplyContextLimits {
  return {
    messageLimit: config.historyMessages,
    memoryLimit: 8,
    // With embeddings the question is embedded first, then searched: nothing to read ahead.
    knowledgeLimit: config.embeddings ? 0 : KNOWLEDGE_PASSAGES,
  }
}

type PreparedTurn =
  | { existing: FoundReply }
  | {
      existing: null
      context: AgentContextRecord
      entitlement: { allowed: boolean }
      pendingConfirmation: PendingConfirmationRecord | null
      supersededBy: string | null
      knowledge: { query: string; hits: KnowledgeHit[] } | null
    }

/** The claim's reading of the job (api.claim_jobs_with_context), else one call of its own (api.prepare_reply). */
async function preparedReply(
  ctx: WorkerContext,
  job: ReplyJob,
  replyKey: string,
  claimed: unknown,
): Promise<PreparedTurn> {
  const read = preparedReplySchema.safeParse(claimed)
  const prepared =
    read.success && (read.data.existing || read.data.context)
      ? read.data
      : await ctx.store.prepareReply(
          job.tenant_id,
          job.conversation_id,
          job.message_id,
          replyKey,
          replyContextLimits(ctx.config),
        )
  if (prepared.existing) return { existing: prepared.existing }
  if (!prepared.context || !prepared.entitlement) throw new Error('api.prepare_reply returned no context')
  return {
    existing: null,
    context: prepared.context,
    entitlement: prepared.entitlement,
    pendingConfirmation: prepared.pending_confirmation ?? null,
    supersededBy: prepared.superseded_by ?? null,
    knowledge: prepared.knowledge ?? null,
  }
}

/** Side effects a recorded reply stands for, re-applied when a retry finds it. */
async function applyReplyEffects(
  ctx: WorkerContext,
  tenantId: string,
  conversationId: string,
  reply: FoundReply | Record<string, unknown>,
) {
  const metadata = 'metadata' in reply ? (reply.metadata as Record<string, unknown>) : reply
  const escalation = metadata['escalation'] as { reason?: unknown; source?: unknown } | undefined
  if (escalation && typeof escalation.reason === 'string') {
    await ctx.store.escalateConversation(tenantId, conversationId, escalation.reason)
  }
}

async function answer(ctx: WorkerContext, job: ReplyJob, run: JobRun): Promise<JobOutcome> {
  const { store, config } = ctx
  const signal = run.signal
  const tenantId = job.tenant_id
  const replyKey = `reply:${job.message_id}`

  // 1. What the turn reads, mostly read by the claim beside the job (api.prepare_reply).
  //    A retry finds the reply it already wrote: finish its effects and deliver it.
  const prepared = await preparedReply(ctx, job, replyKey, run.prepared)
  if (prepared.existing) {
    await applyReplyEffects(ctx, tenantId, job.conversation_id, prepared.existing)
    return `redelivery:${await deliverMessage(ctx, tenantId, prepared.existing.message_id)}`
  }
  const context = prepared.context
  const conversation = context.conversation
  const agent = context.agent

  // 2. Silence: a human has it (or is about to), the agent is gone or paused.
  if (conversation.status !== 'open') {
    // A member took over after an earlier attempt showed "thinking": take it away.
    if (run.attempt > 1) {
      await clearThinking(ctx, { conversation, connection: context.connection, inboundMessageId: job.message_id })
    }
    return `silent:${conversation.status}`
  }
  if (!agent || agent.status !== 'active') return 'silent:no_active_agent'
  // Settings that do not fit the format were left out when read (shared/agent/settings.ts); the
  // agent answers with the rest, and the log says what to fix.
  const settingsProblems = [...context.tenant.model_settings.problems, ...agent.settings.problems]
  if (settingsProblems.length) {
    ctx.log(
      `agent-worker: agent ${agent.id} of tenant ${tenantId} has stored settings that do not fit; answering without them`,
      settingsProblems,
    )
  }

  // 3. Several quick messages get one answer: the job of the newest one that is answered
  //    gives it. Only a newer message ingest queued a reply job for supersedes this one
  //    (api.reply_superseded_by); one stored without a job (over the inbound rate limit,
  //    billing, ...) is answered by no one else, so this job answers.
  const index = context.messages.findIndex((m) => m.id === job.message_id)
  const newerInbound = index < 0 || context.messages.slice(index + 1).some((m) => m.direction === 'in')
  if (newerInbound && prepared.supersededBy) {
    return 'superseded'
  }

  // The turn answers the conversation up to its newest contact message, held-back (not
  // admitted) messages included: they are what the person said. Platform notices stored
  // after it (the rate-limit notice, ...) are not part of the prompt: the model answers
  // the person, not a notice.
  const lastContactAt = context.messages.map((m) => m.author_kind).lastIndexOf('contact')
  const latestContact = lastContactAt >= 0 ? context.messages[lastContactAt] : undefined
  const conversationSoFar = lastContactAt >= 0 ? context.messages.slice(0, lastContactAt + 1) : context.messages
  const latestText = latestContact?.text ?? ''
  const attemptKey = `${replyKey}:a${run.attempt}`
  const meterInput = { tenantId, agentId: agent.id, conversationId: conversation.id }

  // 4a. The plan, checked again now: a job queued before the tenant went over its monthly
  //     limits, was paused or was suspended calls no model and meters nothing. The database records what
  //     ingest would have done (the polite notice and one alert, or silence while paused).
  if (!prepared.entitlement.allowed) {
    const refusal = await ctx.entitlements.enforceForReply({
      tenantId,
      conversationId: conversation.id,
      messageId: job.message_id,
      idempotencyKey: replyKey,
      agentId: agent.id,
    })
    if (!refusal.allowed) {
      if (refusal.notice_message_id) {
        const notice = refusal.reason === 'suspended' ? 'suspended' : 'plan_limit'
        return `${notice}:${await deliverMessage(ctx, tenantId, refusal.notice_message_id)}`
      }
      // A placeholder from an earlier attempt would otherwise say "thinking" forever.
      if (run.attempt > 1) {
        await clearThinking(ctx, { conversation, connection: context.connection, inboundMessageId: job.message_id })
      }
      return `silent:billing_${refusal.pause_reason ?? refusal.reason ?? 'refused'}`
    }
  }

  // 4b. Over budget: no model call; the user is told, the admins alerted.
  if (agent.monthly_token_budget !== null && agent.tokens_used_this_month >= agent.monthly_token_budget) {
    const recorded = await store.recordReply({
      tenantId,
      conversationId: conversation.id,
      text: BUDGET_TEXT,
      idempotencyKey: replyKey,
      agentId: agent.id,
      authorKind: 'system',
      metadata: { mode: 'budget_exhausted', job_id: run.jobId, in_reply_to: job.message_id },
    })
    await alert(ctx, tenantId, 'budget_exhausted', conversation.id, {
      agent_id: agent.id,
      monthly_token_budget: agent.monthly_token_budget,
      tokens_used_this_month: agent.tokens_used_this_month,
    })
    return `budget_exhausted:${await deliverMessage(ctx, tenantId, recorded.message_id)}`
  }

  // 5. A pending confirmation is answered (or abandoned) by this message, and only by the
  //    person it was proposed to: in a thread, someone else's "yes" (typed or clicked)
  //    neither confirms nor cancels it.
  const pending = prepared.pendingConfirmation
  let resume: { record: PendingConfirmationRecord; approved: boolean } | null = null
  if (pending && answeredByProposedPerson(pending, latestContact)) {
    const answer = readConfirmationAnswer(latestText, pending.tool_call_id)
    if (answer) {
      resume = { record: pending, approved: answer === 'approve' }
      await store.updateToolCall(tenantId, pending.tool_call_id, answer === 'approve' ? 'confirmed' : 'cancelled')
    } else {
      await store.updateToolCall(tenantId, pending.tool_call_id, 'cancelled', null, 'the user moved on')
    }
  }

  // 6. Context: persona, history by tokens, memories, knowledge by hybrid search.
  const model = await resolveModel(ctx, context, agent)
  const embedding = model
    ? await embedQuery(ctx, latestText, { ...meterInput, key: `${attemptKey}:embed` }, signal)
    : null
  // BM25 over the question's words (api.search_knowledge), fused with the vector ranking;
  // without an embedding, the claim already searched for this question.
  const searched = !embedding && prepared.knowledge?.query === latestText ? prepared.knowledge.hits : null
  const hits =
    searched ?? (latestText ? await store.searchKnowledge(tenantId, latestText, embedding, KNOWLEDGE_PASSAGES) : [])
  const knowledge: KnowledgePassage[] = hits.map((h) => ({
    text: h.content,
    title: h.source_title,
    coverage: h.coverage ?? null,
  }))
  const history: ConversationMessage[] = conversationSoFar
    .filter((m) => m.text && m.text.trim())
    .map(toConversationMessage)
    .reverse()
  const assembled = assembleContext({
    persona: {
      name: agent.name,
      role: agent.role || 'an assistant',
      tone: agent.tone,
      instructions: [agent.persona, agent.instructions].filter(Boolean).join('\n\n'),
    },
    recentMessages: history,
    memories: context.memories.map((m) => ({ text: m.content })),
    knowledge,
    budget: { maxInputTokens: model?.contextTokens ?? config.contextTokens },
    contactName: context.contact?.display_name ?? conversation.contact_name,
    now: new Date(ctx.now()),
  })

  // The operator's web search provider (KONSTRUCT_WEB_SEARCH_URL), or none: the tool is then never offered.
  const webSearch = config.webSearch
  const resolveHost: ResolveHost =
    ctx.resolveHost ??
    (async () => {
      throw new Error('no resolver')
    })
  let toolSearches = 0
  const tools = buildAgentTools(toolSettingsOf(agent), {
    searchKnowledge: async (query, limit) => {
      const key = `${attemptKey}:tool-embed:${++toolSearches}`
      const vector = model ? await embedQuery(ctx, query, { ...meterInput, key }, signal) : null
      return (await store.searchKnowledge(tenantId, query, vector, limit)).map((h) => ({
        text: h.content,
        title: h.source_title,
      }))
    },
    resolveHost: ctx.resolveHost,
    fetch: ctx.fetch,
    searchWeb: webSearch
      ? (query, limit, toolSignal) =>
          searchWeb(webSearch, query, limit, { resolveHost, fetch: ctx.fetch, signal: toolSignal })
      : undefined,
  })

  // A visible "thinking" on channels that have one, while the model works (best effort).
  const thinking = ctx.deliveries[context.connection.kind].showThinking
  if (model && thinking) {
    const recipient =
      context.contact?.identities.find((identity) => identity.channel === conversation.channel)?.external_user_id ??
      null
    await thinking({ conversation, connection: context.connection, inboundMessageId: job.message_id, recipient }).catch(
      (error: unknown) => ctx.log('agent-worker: could not show the thinking status', describeFailure(error)),
    )
  }

  // 7. The turn. A model failure meters what was spent, then retries through the queue.
  let turn: AgentTurnResult
  try {
    turn = await runAgentTurn({
      messages: assembled.messages,
      latestContactText: resume ? null : assembled.latestContactText,
      tools,
      model: model ? { client: ctx.modelClient, target: model.target } : null,
      knowledge,
      escalationRules: escalationRulesOf(agent),
      maxSteps: config.maxSteps,
      modelTimeoutMs: config.modelTimeoutMs,
      toolTimeoutMs: config.toolTimeoutMs,
      prices: model?.prices,
      temperature: model?.temperature,
      maxOutputTokens: model?.maxOutputTokens,
      signal,
      resume: resume
        ? {
            approved: resume.approved,
            pending: {
              toolCallId: String(resume.record.result?.['model_tool_call_id'] ?? resume.record.tool_call_id),
              toolName: resume.record.tool_name,
              arguments: String(resume.record.result?.['raw_arguments'] ?? JSON.stringify(resume.record.arguments)),
              summary: String(resume.record.result?.['summary'] ?? resume.record.tool_name),
            },
          }
        : undefined,
    })
  } catch (error) {
    if (error instanceof AgentTurnFailed) {
      await meterModelCalls(ctx, error.modelCalls, { ...meterInput, keyPrefix: attemptKey })
      await recordToolCalls(ctx, error.toolCalls, { ...meterInput, messageId: job.message_id, keyPrefix: attemptKey })
      await store.recordAudit(tenantId, 'agent.model_call_failed', 'conversation', conversation.id, {
        agent_id: agent.id,
        attempt: run.attempt,
        attempts: error.failure.attempts,
        error: error.failure.lastError.kind,
        status: error.failure.lastError.status,
      })
      await reportModelFailure(ctx, tenantId, conversation.id, error)
    }
    throw error
  }
  // 8. Tool calls first (rare), then usage, audit, the model's outcome and the reply in one
  //    call. Should that fail, the model's spend is still metered (idempotent by key).
  const metadata: Record<string, unknown> = { mode: turn.mode, job_id: run.jobId, in_reply_to: job.message_id }
  const finish = async () => {
    // A resumed call is the confirmed row itself, moved on rather than logged again.
    const resumed = resume ? turn.toolCalls[0] : undefined
    const newCalls = resume ? turn.toolCalls.slice(1) : turn.toolCalls
    if (resume && resumed) {
      await store.updateToolCall(tenantId, resume.record.tool_call_id, toolStatus(resumed), parseResult(resumed.result))
      await store.recordAudit(tenantId, 'agent.tool_call', 'tool_call', resume.record.tool_call_id, {
        agent_id: agent.id,
        conversation_id: conversation.id,
        tool: resumed.name,
        arguments: parseArguments(resumed.arguments),
        outcome: resumed.outcome,
        confirmed_by_user: resume.approved,
      })
    }
    const toolCallIds = await recordToolCalls(ctx, newCalls, {
      ...meterInput,
      messageId: job.message_id,
      keyPrefix: attemptKey,
    })

    let text = turn.reply
    if (turn.pendingConfirmation) {
      const toolCallId = toolCallIds.get(turn.pendingConfirmation.toolCallId)
      if (toolCallId) {
        await store.updateToolCall(tenantId, toolCallId, 'awaiting_confirmation', {
          model_tool_call_id: turn.pendingConfirmation.toolCallId,
          raw_arguments: turn.pendingConfirmation.arguments,
          summary: turn.pendingConfirmation.summary,
        })
        metadata.confirmation = { tool_call_id: toolCallId, summary: turn.pendingConfirmation.summary }
        text = `${text}\n\n${CONFIRM_HINT}`
      }
    }
    if (turn.escalation) metadata.escalation = turn.escalation

    const meter = modelCallRecords(turn.modelCalls, { ...meterInput, keyPrefix: attemptKey })
    const delivery = ctx.deliveries[context.connection.kind]
    // A hand-off is applied before the answer goes out, so the answer is then delivered apart.
    const settleNow = Boolean(delivery.deliveredOnRecord) && !turn.escalation
    return store.finishReply({
      tenantId,
      conversationId: conversation.id,
      reply: { text, idempotencyKey: replyKey, agentId: agent.id, metadata },
      usage: meter.usage,
      audit: meter.audit,
      modelOk: turn.modelCalls.length > 0,
      leaseSeconds: config.deliveryLeaseSeconds,
      sentOnRecord: settleNow,
      job: { queue: run.queue, jobId: run.jobId },
    })
  }
  const finished = await finish().catch(async (error: unknown) => {
    await meterModelCalls(ctx, turn.modelCalls, { ...meterInput, keyPrefix: attemptKey }).catch((e: unknown) =>
      ctx.log('agent-worker: could not meter the model calls', describeFailure(e)),
    )
    throw error
  })
  const recorded = finished.reply

  // 9. Hand-off: waiting_for_human, audited by the database; the admins alerted live.
  if (turn.escalation) {
    await applyReplyEffects(ctx, tenantId, conversation.id, metadata)
    await alert(ctx, tenantId, 'handoff', conversation.id, {
      reason: turn.escalation.reason,
      source: turn.escalation.source,
      agent_id: agent.id,
      contact_name: context.contact?.display_name ?? null,
    })
    // The Slack DM to the people the tenant named, from a job of its own (retried apart).
    await store
      .enqueueJob('agent_jobs', {
        kind: 'notify_handoff',
        tenant_id: tenantId,
        conversation_id: conversation.id,
        reason: turn.escalation.reason,
        source: turn.escalation.source,
      })
      .catch((error: unknown) => ctx.log('agent-worker: could not queue the hand-off DM', describeFailure(error)))
  }

  const delivered = finished.settled
    ? { outcome: 'sent', completed: finished.completed }
    : await deliverLeased(ctx, tenantId, finished.lease, { queue: run.queue, jobId: run.jobId })

  // 10. Once the conversation goes quiet, distil what is worth remembering.
  if (model && config.memoryQuietSeconds > 0 && context.contact && !recorded.duplicate) {
    const lastSeq = context.messages.at(-1)?.seq ?? 0
    await store
      .scheduleJob(
        'agent_jobs',
        { kind: 'distil_memories', tenant_id: tenantId, conversation_id: conversation.id, after_seq: lastSeq },
        config.memoryQuietSeconds,
      )
      .catch((error: unknown) =>
        ctx.log('agent-worker: could not schedule memory distillation', describeFailure(error)),
      )
  }
  return { outcome: `${turn.mode}:${delivered.outcome}`, completed: delivered.completed }
}

export function replyJob(ctx: WorkerContext): JobKind<ReplyJob> {
  return {
    schema: replyJobSchema,
    run: (job, run) => answer(ctx, job, run),
    async deadLetter(job, letter) {
      // The alert comes first: whoever sees the apology finds the alert already recorded.
      await alertAndGoOn(ctx, job.tenant_id, 'job_dead_lettered', job.conversation_id, {
        queue: letter.queue,
        kind: job.kind,
        message_id: job.message_id,
        attempts: letter.attempts,
        error: letter.reason,
      })
      // The apology is a reply of its own with its own delivery job, so it is retried too.
      const apology = await ctx.store.recordReply({
        tenantId: job.tenant_id,
        conversationId: job.conversation_id,
        text: APOLOGY_TEXT,
        idempotencyKey: `apology:${job.message_id}`,
        authorKind: 'system',
        metadata: { mode: 'apology', failed_message_id: job.message_id, in_reply_to: job.message_id },
      })
      if (!apology.duplicate) {
        await ctx.store.enqueueJob('agent_jobs', {
          kind: 'deliver',
          tenant_id: job.tenant_id,
          conversation_id: job.conversation_id,
          message_id: apology.message_id,
        })
      }
    },
  }
}
