// The agent worker: the queue consumer behind functions/agent-worker. pg_net wakes it
// right after a message is enqueued, pg_cron wakes it as a safety net; each wake-up
// drains agent_jobs (then knowledge_jobs) in batches for as long as its time budget
// allows, and answers 207 with what it completed and what failed.
//
// Per job, at least once, in this order:
//   1. claim (visibility timeout longer than the time budget, so no one else holds it);
//   2. do the work; every effect is recorded under an idempotency key derived from the
//      job (`reply:<message id>`), so a retried job finds its earlier reply instead of
//      calling the model again, and usage/tool calls are keyed per attempt;
//   3. deliver through the channel under a delivery lease (api.begin_delivery), so two
//      workers holding the same job never both post; the outcome becomes the
//      message's delivery status;
//   4. delete the job (api.complete_job) only after all that is recorded.
// On failure: api.fail_job sets the visibility timeout with exponential backoff; at the
// last attempt (or at once for a permanent refusal) the job is archived — pgmq's
// archive is the dead-letter queue — the user gets a short apology (delivered by a job
// of its own, so it is retried too) and the admins an alert (audit `alert.*`, broadcast
// live to the portal).

import { assembleContext, type ConversationMessage, type KnowledgePassage } from './context.ts'
import { embedTexts } from './embeddings.ts'
import type { EscalationRule } from './handoff.ts'
import { AgentTurnFailed, runAgentTurn, type AgentTurnResult, type ModelCallLog, type ToolCallLog } from './loop.ts'
import { distilContactMemories } from './memory.ts'
import { createModelClient, type ModelClient, type ModelTarget } from './model.ts'
import { tenantModelEndpointGuard } from './model-endpoint.ts'
import { proveWhatsAppControl } from './worker-channel-proof.ts'
import { DEFAULT_PRICES, costOfCall, type PriceTable } from './pricing.ts'
import { buildAgentTools, type AgentToolSettings } from './tools/agent-tools.ts'
import type { ResolveHost } from '../net/guarded-fetch.ts'
import { MAX_JSON_BODY_BYTES, readRawBody } from '../net/request-body.ts'
import { z } from 'zod'
import { ApiError } from '../api/client.ts'
import { serviceApi } from '../api/project.ts'
import { isSecretKey } from '../api/callers.ts'
import { constantTimeEqual } from '../runtime/constant-time.ts'
import {
  type AgentContextRecord,
  type AgentRecord,
  type ContextMessage,
  type AgentStore,
  type ClaimedJob,
  type FoundReply,
  type PendingConfirmationRecord,
  type QueueName,
  type ToolCallStatus,
} from './store.ts'
import type { ModelSettings } from './settings.ts'
import { DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL, type WorkerConfig } from './worker-config.ts'
import { DeliveryFailed, type ReplyDeliveries, type ThinkingTarget } from './worker-delivery.ts'
import { createEntitlementGate, type EntitlementGate } from './worker-entitlements.ts'
import { KnowledgeFetchFailed, processKnowledgeSource } from './worker-knowledge.ts'
import { buildHandoffDm, sendHandoffDms } from './handoff-notify.ts'
import { verifyWake, WAKE_SIGNATURE_HEADER } from '../wake/verify-wake.ts'
import { contactProfileJobSchema, fetchContactProfile } from './contact-profile.ts'

// Jobs ---------------------------------------------------------------------------------------

const uuid = z.string().uuid()
export const agentJobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('reply'), tenant_id: uuid, conversation_id: uuid, message_id: uuid }),
  z.object({ kind: z.literal('deliver'), tenant_id: uuid, conversation_id: uuid, message_id: uuid }),
  z.object({
    kind: z.literal('distil_memories'),
    tenant_id: uuid,
    conversation_id: uuid,
    after_seq: z.number().int(),
  }),
  z.object({ kind: z.literal('process_source'), tenant_id: uuid, source_id: uuid }),
  z.object({
    kind: z.literal('verify_whatsapp_channel'),
    tenant_id: uuid,
    connection_id: uuid,
    phone_number_id: z.string().min(1),
    business_account_id: z.string().min(1),
  }),
  z.object({
    kind: z.literal('notify_handoff'),
    tenant_id: uuid,
    conversation_id: uuid,
    reason: z.string(),
    source: z.string().nullable().default(null),
  }),
  contactProfileJobSchema,
])
export type AgentJob = z.infer<typeof agentJobSchema>

export interface JobReport {
  queue: QueueName
  job_id: number
  kind: string | null
  outcome: string
}

export interface FailedJobReport extends JobReport {
  attempts: number | null
  retry_in_seconds: number | null
  dead_lettered: boolean
}

export interface BatchReport {
  completed: JobReport[]
  failed: FailedJobReport[]
  /** True when the time budget ran out with work possibly left for the next wake-up. */
  more: boolean
  elapsed_ms: number
}

// User-facing texts ---------------------------------------------------------------------------

export const APOLOGY_TEXT =
  "Sorry, I'm having trouble answering right now. I've let the team know, and someone will get back to you here."
export const BUDGET_TEXT =
  "Sorry, I can't answer right now because this assistant has reached its usage limit for the month. " +
  "I've let the team know, and someone will get back to you here."
const CONFIRM_HINT = 'Reply "yes" to go ahead or "no" to cancel.'

// Errors ---------------------------------------------------------------------------------------

/** A failure that a retry cannot fix: the job is archived at once. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError'
}

/** Try again later without calling it a fault (e.g. another worker is delivering). */
export class RetryLater extends Error {
  override readonly name = 'RetryLater'
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true
  if (error instanceof ApiError) return error.permanent
  if (error instanceof DeliveryFailed) return error.permanent
  return false
}

/** A short description for fail_job and the audit log; never shown to chat users. */
function describe(error: unknown): string {
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

// Dependencies ----------------------------------------------------------------------------------

export interface AgentWorkerDeps {
  store: AgentStore
  config: WorkerConfig
  deliveries: ReplyDeliveries
  modelClient?: ModelClient
  /** The plan's say before a model call; by default the database's, over PostgREST. */
  entitlements?: EntitlementGate
  fetch?: typeof fetch
  resolveHost?: ResolveHost
  now?: () => number
  log?: (line: string, detail?: unknown) => void
}

// Decisions that need no database ---------------------------------------------------------------

/** What the user answered to a pending confirmation: a button id, or a plain yes/no. */
export function readConfirmationAnswer(text: string | null, toolCallId: string): 'approve' | 'cancel' | null {
  if (!text) return null
  const clean = text.trim().toLowerCase()
  if (clean === `confirm:${toolCallId}`) return 'approve'
  if (clean === `cancel:${toolCallId}`) return 'cancel'
  const words = clean.replace(/[^\p{L}\p{N}' ]+/gu, ' ').trim()
  if (
    /^(yes|y|yep|yeah|sure|ok|okay|go ahead|yes please|please do|do it|confirm|confirmed|approve)( please)?$/.test(
      words,
    )
  )
    return 'approve'
  if (/^(no|n|nope|cancel|stop|don't|do not|no thanks|no thank you|abort)( please)?$/.test(words)) return 'cancel'
  return null
}

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

/** The agent's escalation rules (read through ./settings.ts) as the core's rules. */
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
  }
}

function priceTable(config: WorkerConfig, ...settings: ModelSettings[]): PriceTable {
  const table: Record<string, { inputPerMillion: number; outputPerMillion: number }> = {
    ...DEFAULT_PRICES,
    ...config.prices,
  }
  for (const s of settings) {
    for (const [model, p] of Object.entries(s.prices ?? {})) {
      table[model.toLowerCase()] = { inputPerMillion: p.input_per_million, outputPerMillion: p.output_per_million }
    }
  }
  return table
}

function toolStatus(log: ToolCallLog): ToolCallStatus {
  switch (log.outcome) {
    case 'ok':
    case 'escalated':
      return 'succeeded'
    case 'error':
    case 'timeout':
      return 'failed'
    case 'unknown_tool':
    case 'invalid_arguments':
      return 'refused'
    case 'pending_confirmation':
      return 'awaiting_confirmation'
    case 'cancelled_by_user':
      return 'cancelled'
  }
}

function toConversationMessage(m: { author_kind: string; text: string | null }): ConversationMessage {
  const author = m.author_kind === 'contact' ? 'contact' : m.author_kind === 'member' ? 'member' : 'agent'
  return { author, text: m.text ?? '' }
}

function parseArguments(raw: string): unknown {
  try {
    const value = JSON.parse(raw)
    return typeof value === 'object' && value !== null ? value : { value }
  } catch {
    return { raw: raw.slice(0, 2000) }
  }
}

function parseResult(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { text }
  }
}

// The worker --------------------------------------------------------------------------------------

export function createAgentWorker(deps: AgentWorkerDeps) {
  const { store, config, deliveries } = deps
  const now = deps.now ?? (() => Date.now())
  const log = deps.log ?? ((line: string, detail?: unknown) => console.log(line, detail ?? ''))
  const modelClient = deps.modelClient ?? createModelClient({ fetch: deps.fetch })
  const tenantEndpointGuard = tenantModelEndpointGuard({
    allowLocalEndpoints: config.allowLocalModelEndpoints,
    resolveHost: deps.resolveHost,
  })
  const entitlements = deps.entitlements ?? createEntitlementGate(serviceApi(config.project))

  // Model ------------------------------------------------------------------------------------

  /**
   * The model for a turn: the agent's settings over the tenant's over the platform's.
   * A key is only ever sent to the base URL it belongs with: the platform's key goes
   * to the platform's endpoint, a tenant's own key to the tenant's or agent's. With no
   * endpoint and no key anywhere there is no model: offline mode.
   */
  async function resolveModel(context: AgentContextRecord, agent: AgentRecord) {
    const agentSettings = agent.settings.model.settings
    const tenantSettings = context.tenant.model_settings.settings
    // An endpoint that does not fit the format is not guessed at: sending the conversation
    // (or the tenant's key) to another endpoint than the one set would be worse than the
    // offline answer. The problem is logged with the others (settingsProblems).
    if (agent.settings.model.endpointUnreadable) return null
    if (!agentSettings.base_url && context.tenant.model_settings.endpointUnreadable) return null
    const platform = config.platformModel
    const ownKey =
      agent.has_own_llm_key || context.tenant.has_own_llm_key
        ? await store.getLlmKey(context.tenant.id, agent.id)
        : null
    const customBaseUrl = agentSettings.base_url || tenantSettings.base_url || null
    let baseUrl: string | null
    let apiKey: string | null
    if (customBaseUrl) {
      baseUrl = customBaseUrl
      apiKey = ownKey
    } else if (ownKey) {
      baseUrl = platform.baseUrl ?? DEFAULT_OPENAI_BASE_URL
      apiKey = ownKey
    } else if (platform.baseUrl || platform.apiKey) {
      baseUrl = platform.baseUrl ?? DEFAULT_OPENAI_BASE_URL
      apiKey = platform.apiKey
    } else {
      return null
    }
    const fallbackModel = agentSettings.fallback_model || tenantSettings.fallback_model || platform.fallbackModel
    const target: ModelTarget = {
      baseUrl,
      apiKey,
      guard: customBaseUrl ? tenantEndpointGuard : null,
      model: agentSettings.model || tenantSettings.model || platform.model || DEFAULT_MODEL,
      fallback: fallbackModel ? { model: fallbackModel } : null,
    }
    return {
      target,
      temperature: agentSettings.temperature ?? tenantSettings.temperature ?? undefined,
      maxOutputTokens: agentSettings.max_output_tokens ?? tenantSettings.max_output_tokens ?? undefined,
      contextTokens: agentSettings.context_tokens ?? tenantSettings.context_tokens ?? config.contextTokens,
      prices: priceTable(config, tenantSettings, agentSettings),
    }
  }

  /** An embedding of a query for hybrid search; null (full text only) when off or failing. */
  async function embedQuery(
    text: string,
    meter: { tenantId: string; agentId: string | null; conversationId: string | null; key: string },
    signal: AbortSignal,
  ): Promise<number[] | null> {
    if (!config.embeddings || !text.trim()) return null
    try {
      const result = await embedTexts(config.embeddings, [text.slice(0, 8000)], {
        fetch: deps.fetch,
        timeoutMs: 10_000,
        signal,
        dimensions: 1536,
      })
      const vector = result.embeddings[0]
      if (!vector || vector.length !== 1536) return null
      await store.recordUsage({
        tenantId: meter.tenantId,
        agentId: meter.agentId,
        conversationId: meter.conversationId,
        model: result.model,
        inputTokens: result.usage.promptTokens,
        outputTokens: 0,
        costUsd: costOfCall(result.model, { promptTokens: result.usage.promptTokens, completionTokens: 0 }),
        kind: 'embedding',
        idempotencyKey: meter.key,
      })
      return vector
    } catch (error) {
      log('agent-worker: query embedding failed; searching by full text only', describe(error))
      return null
    }
  }

  // Recording --------------------------------------------------------------------------------

  async function meterModelCalls(
    calls: readonly ModelCallLog[],
    input: { tenantId: string; agentId: string; conversationId: string; keyPrefix: string },
  ) {
    for (const [index, call] of calls.entries()) {
      const key = `${input.keyPrefix}:m${index}`
      await store.recordUsage({
        tenantId: input.tenantId,
        agentId: input.agentId,
        conversationId: input.conversationId,
        model: call.model,
        inputTokens: call.usage.promptTokens,
        outputTokens: call.usage.completionTokens,
        costUsd: call.costUsd,
        kind: 'chat',
        idempotencyKey: key,
        metadata: { estimated: call.usage.estimated, used_fallback: call.usedFallback, latency_ms: call.latencyMs },
      })
      await store.recordAudit(input.tenantId, 'agent.model_call', 'conversation', input.conversationId, {
        agent_id: input.agentId,
        model: call.model,
        input_tokens: call.usage.promptTokens,
        output_tokens: call.usage.completionTokens,
        cost_usd: call.costUsd,
        latency_ms: call.latencyMs,
        finish_reason: call.finishReason,
        used_fallback: call.usedFallback,
        attempts: call.attempts,
        usage_key: key,
      })
    }
  }

  async function recordToolCalls(
    calls: readonly ToolCallLog[],
    input: { tenantId: string; agentId: string; conversationId: string; messageId: string; keyPrefix: string },
  ): Promise<Map<string, string>> {
    const ids = new Map<string, string>()
    for (const call of calls) {
      const status = toolStatus(call)
      const recorded = await store.recordToolCall({
        tenantId: input.tenantId,
        conversationId: input.conversationId,
        toolName: call.name,
        arguments: parseArguments(call.arguments),
        status,
        result:
          status === 'awaiting_confirmation'
            ? { model_tool_call_id: call.id, raw_arguments: call.arguments }
            : parseResult(call.result),
        error: status === 'failed' || status === 'refused' ? call.result.slice(0, 1000) : null,
        agentId: input.agentId,
        messageId: input.messageId,
        idempotencyKey: `${input.keyPrefix}:${call.id}`,
      })
      ids.set(call.id, recorded.tool_call_id)
      await store.recordAudit(input.tenantId, 'agent.tool_call', 'tool_call', recorded.tool_call_id, {
        agent_id: input.agentId,
        conversation_id: input.conversationId,
        tool: call.name,
        arguments: parseArguments(call.arguments),
        outcome: call.outcome,
      })
    }
    return ids
  }

  async function alert(
    tenantId: string,
    kind: string,
    conversationId: string | null,
    details: Record<string, unknown>,
  ) {
    await store.recordAudit(tenantId, `alert.${kind}`, conversationId ? 'conversation' : null, conversationId, details)
  }

  /** Counts a failed model turn; the failure that raises the alert also sends the hand-off DM. */
  async function reportModelFailure(tenantId: string, conversationId: string, error: AgentTurnFailed) {
    const last = error.failure.lastError
    const what = last.status ? `${last.kind} (HTTP ${last.status})` : last.kind
    try {
      const outcome = await store.recordModelOutcome({
        tenantId,
        ok: false,
        conversationId,
        error: what,
        status: last.status,
      })
      if (outcome.alerted) {
        await store.enqueueJob('agent_jobs', {
          kind: 'notify_handoff',
          tenant_id: tenantId,
          conversation_id: conversationId,
          reason: `The model failed to answer several times in a row (last error: ${what}). Check the model settings.`,
          source: 'model_failing',
        })
      }
    } catch (e) {
      log('agent-worker: could not record the model failure', describe(e))
    }
  }

  /** Removes a "thinking" status no answer will replace (best effort: never fails the job). */
  async function clearThinking(target: ThinkingTarget) {
    const clear = deliveries[target.connection.kind]?.clearThinking
    if (!clear) return
    await clear(target).catch((error: unknown) =>
      log('agent-worker: could not clear the thinking status', describe(error)),
    )
  }

  // Delivery ---------------------------------------------------------------------------------

  /** Sends a recorded outbound message once; throws to retry, returns quietly when done. */
  async function deliverMessage(tenantId: string, messageId: string): Promise<string> {
    const lease = await store.beginDelivery(tenantId, messageId, config.deliveryLeaseSeconds)
    const status = lease.message.delivery_status
    if (['sent', 'delivered', 'read', 'undeliverable'].includes(status)) return `already_${status}`
    if (!lease.acquired) throw new RetryLater('another worker is delivering this message')
    const conversationId = lease.conversation.id
    if (lease.connection.status !== 'active') {
      await store.setDeliveryStatus(tenantId, messageId, 'undeliverable', null, 'the channel connection is disabled')
      await alert(tenantId, 'delivery_failed', conversationId, {
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
        await clearThinking({
          conversation: lease.conversation,
          connection: lease.connection,
          inboundMessageId: inReplyTo,
        })
      }
      return 'withheld'
    }
    if (lease.connection.settingsProblems.length) {
      log(
        `agent-worker: connection ${lease.connection.connection_id} has stored settings that do not fit; delivering without them`,
        lease.connection.settingsProblems,
      )
    }
    try {
      const sent = await deliveries[lease.connection.kind].deliver({
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
        await alert(tenantId, 'delivery_failed', conversationId, { message_id: messageId, reason: failure.message })
        return 'undeliverable'
      }
      // Recorded as failed: frees the lease, shows the portal, and the job retries it.
      await store.setDeliveryStatus(tenantId, messageId, 'failed', null, failure.message.slice(0, 500))
      throw failure
    }
  }

  // Reply jobs -------------------------------------------------------------------------------

  /** Side effects a recorded reply stands for, re-applied when a retry finds it. */
  async function applyReplyEffects(
    tenantId: string,
    conversationId: string,
    reply: FoundReply | Record<string, unknown>,
  ) {
    const metadata = 'metadata' in reply ? (reply.metadata as Record<string, unknown>) : reply
    const escalation = metadata['escalation'] as { reason?: unknown; source?: unknown } | undefined
    if (escalation && typeof escalation.reason === 'string') {
      await store.escalateConversation(tenantId, conversationId, escalation.reason)
    }
  }

  async function handleReply(
    job: Extract<AgentJob, { kind: 'reply' }>,
    claimed: ClaimedJob,
    signal: AbortSignal,
  ): Promise<string> {
    const tenantId = job.tenant_id
    const replyKey = `reply:${job.message_id}`

    // 1. A retry finds the reply it already wrote: finish its effects and deliver it.
    const existing = await store.findReply(tenantId, job.conversation_id, replyKey)
    if (existing) {
      await applyReplyEffects(tenantId, job.conversation_id, existing)
      return `redelivery:${await deliverMessage(tenantId, existing.message_id)}`
    }

    const context = await store.getAgentContext(tenantId, job.conversation_id, {
      messageLimit: config.historyMessages,
      memoryLimit: 8,
    })
    const conversation = context.conversation
    const agent = context.agent

    // 2. Silence: a human has it (or is about to), the agent is gone or paused.
    if (conversation.status !== 'open') {
      // A member took over after an earlier attempt showed "thinking": take it away.
      if (claimed.read_count > 1) {
        await clearThinking({ conversation, connection: context.connection, inboundMessageId: job.message_id })
      }
      return `silent:${conversation.status}`
    }
    if (!agent || agent.status !== 'active') return 'silent:no_active_agent'
    // Settings that do not fit the format were left out when read (./settings.ts); the
    // agent answers with the rest, and the log says what to fix.
    const settingsProblems = [...context.tenant.model_settings.problems, ...agent.settings.problems]
    if (settingsProblems.length) {
      log(
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
    if (newerInbound && (await store.replySupersededBy(tenantId, conversation.id, job.message_id))) {
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
    const attemptKey = `${replyKey}:a${claimed.read_count}`
    const meterInput = { tenantId, agentId: agent.id, conversationId: conversation.id }

    // 4a. The plan, checked again now: a job queued before the tenant went over its monthly
    //     limits, was paused or was suspended calls no model and meters nothing. The database records what
    //     ingest would have done (the polite notice and one alert, or silence while paused).
    const entitlement = await entitlements.check(tenantId)
    if (!entitlement.allowed) {
      const refusal = await entitlements.enforceForReply({
        tenantId,
        conversationId: conversation.id,
        messageId: job.message_id,
        idempotencyKey: replyKey,
        agentId: agent.id,
      })
      if (!refusal.allowed) {
        if (refusal.notice_message_id) {
          const notice = refusal.reason === 'suspended' ? 'suspended' : 'plan_limit'
          return `${notice}:${await deliverMessage(tenantId, refusal.notice_message_id)}`
        }
        // A placeholder from an earlier attempt would otherwise say "thinking" forever.
        if (claimed.read_count > 1) {
          await clearThinking({ conversation, connection: context.connection, inboundMessageId: job.message_id })
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
        metadata: { mode: 'budget_exhausted', job_id: claimed.job_id, in_reply_to: job.message_id },
      })
      await alert(tenantId, 'budget_exhausted', conversation.id, {
        agent_id: agent.id,
        monthly_token_budget: agent.monthly_token_budget,
        tokens_used_this_month: agent.tokens_used_this_month,
      })
      return `budget_exhausted:${await deliverMessage(tenantId, recorded.message_id)}`
    }

    // 5. A pending confirmation is answered (or abandoned) by this message, and only by the
    //    person it was proposed to: in a thread, someone else's "yes" (typed or clicked)
    //    neither confirms nor cancels it.
    const pending = await store.getPendingConfirmation(tenantId, conversation.id)
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
    const model = await resolveModel(context, agent)
    const embedding = model ? await embedQuery(latestText, { ...meterInput, key: `${attemptKey}:embed` }, signal) : null
    // BM25 over the question's words (api.search_knowledge), fused with the vector ranking.
    const hits = latestText ? await store.searchKnowledge(tenantId, latestText, embedding, 5) : []
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
      now: new Date(now()),
    })

    let toolSearches = 0
    const tools = buildAgentTools(toolSettingsOf(agent), {
      searchKnowledge: async (query, limit) => {
        const key = `${attemptKey}:tool-embed:${++toolSearches}`
        const vector = model ? await embedQuery(query, { ...meterInput, key }, signal) : null
        return (await store.searchKnowledge(tenantId, query, vector, limit)).map((h) => ({
          text: h.content,
          title: h.source_title,
        }))
      },
      resolveHost: deps.resolveHost,
      fetch: deps.fetch,
    })

    // A visible "thinking" on channels that have one, while the model works (best effort).
    const thinking = deliveries[context.connection.kind].showThinking
    if (model && thinking) {
      await thinking({ conversation, connection: context.connection, inboundMessageId: job.message_id }).catch(
        (error: unknown) => log('agent-worker: could not show the thinking status', describe(error)),
      )
    }

    // 7. The turn. A model failure meters what was spent, then retries through the queue.
    let turn: AgentTurnResult
    try {
      turn = await runAgentTurn({
        messages: assembled.messages,
        latestContactText: resume ? null : assembled.latestContactText,
        tools,
        model: model ? { client: modelClient, target: model.target } : null,
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
        await meterModelCalls(error.modelCalls, { ...meterInput, keyPrefix: attemptKey })
        await recordToolCalls(error.toolCalls, { ...meterInput, messageId: job.message_id, keyPrefix: attemptKey })
        await store.recordAudit(tenantId, 'agent.model_call_failed', 'conversation', conversation.id, {
          agent_id: agent.id,
          attempt: claimed.read_count,
          attempts: error.failure.attempts,
          error: error.failure.lastError.kind,
          status: error.failure.lastError.status,
        })
        await reportModelFailure(tenantId, conversation.id, error)
      }
      throw error
    }
    if (turn.modelCalls.length > 0) {
      await store
        .recordModelOutcome({ tenantId, ok: true, conversationId: conversation.id })
        .catch((e: unknown) => log('agent-worker: could not record the model outcome', describe(e)))
    }

    // 8. Record usage, tool calls and audit, then the reply itself.
    await meterModelCalls(turn.modelCalls, { ...meterInput, keyPrefix: attemptKey })
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
    const toolCallIds = await recordToolCalls(newCalls, {
      ...meterInput,
      messageId: job.message_id,
      keyPrefix: attemptKey,
    })

    const metadata: Record<string, unknown> = { mode: turn.mode, job_id: claimed.job_id, in_reply_to: job.message_id }
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

    const recorded = await store.recordReply({
      tenantId,
      conversationId: conversation.id,
      text,
      idempotencyKey: replyKey,
      agentId: agent.id,
      metadata,
    })

    // 9. Hand-off: waiting_for_human, audited by the database; the admins alerted live.
    if (turn.escalation) {
      await applyReplyEffects(tenantId, conversation.id, metadata)
      await alert(tenantId, 'handoff', conversation.id, {
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
        .catch((error: unknown) => log('agent-worker: could not queue the hand-off DM', describe(error)))
    }

    const delivery = await deliverMessage(tenantId, recorded.message_id)

    // 10. Once the conversation goes quiet, distil what is worth remembering.
    if (model && config.memoryQuietSeconds > 0 && context.contact && !recorded.duplicate) {
      const lastSeq = context.messages.at(-1)?.seq ?? 0
      await store
        .scheduleJob(
          'agent_jobs',
          { kind: 'distil_memories', tenant_id: tenantId, conversation_id: conversation.id, after_seq: lastSeq },
          config.memoryQuietSeconds,
        )
        .catch((error: unknown) => log('agent-worker: could not schedule memory distillation', describe(error)))
    }
    return `${turn.mode}:${delivery}`
  }

  // Memory jobs ----------------------------------------------------------------------------------

  async function handleDistil(job: Extract<AgentJob, { kind: 'distil_memories' }>, claimed: ClaimedJob) {
    const context = await store.getAgentContext(job.tenant_id, job.conversation_id, {
      messageLimit: config.historyMessages,
      memoryLimit: 50,
    })
    const agent = context.agent
    const contact = context.contact
    if (!agent || !contact) return 'skipped:no_agent_or_contact'
    // Not quiet after all: the reply to a later message scheduled a later distillation.
    if (context.messages.some((m) => m.seq > job.after_seq && m.author_kind === 'contact')) return 'skipped:not_quiet'
    const model = await resolveModel(context, agent)
    if (!model) return 'skipped:offline'
    // What this person learned about is what they said: in a thread with several people,
    // another person's words are never filed as this contact's memories.
    const transcript: ConversationMessage[] = context.messages
      .filter((m) => m.text && m.author_kind !== 'system')
      .filter((m) => m.author_kind !== 'contact' || !m.author_contact_id || m.author_contact_id === contact.id)
      .map(toConversationMessage)
    const result = await distilContactMemories({
      model: { client: modelClient, target: model.target },
      transcript,
      existingMemories: context.memories.map((m) => m.content),
      contactName: contact.display_name,
      timeoutMs: config.modelTimeoutMs,
    })
    if (result.completion) {
      const c = result.completion
      await meterModelCalls(
        [
          {
            model: c.model,
            usage: c.usage,
            costUsd: costOfCall(c.model, c.usage, model.prices),
            latencyMs: c.latencyMs,
            finishReason: c.finishReason,
            usedFallback: c.usedFallback,
            attempts: c.attempts,
          },
        ],
        {
          tenantId: job.tenant_id,
          agentId: agent.id,
          conversationId: job.conversation_id,
          keyPrefix: `memory:${claimed.job_id}:a${claimed.read_count}`,
        },
      )
    }
    let vectors: number[][] = []
    if (config.embeddings && result.memories.length) {
      try {
        vectors = (
          await embedTexts(
            config.embeddings,
            result.memories.map((m) => m.text),
            { fetch: deps.fetch, dimensions: 1536 },
          )
        ).embeddings
      } catch (error) {
        log('agent-worker: memory embeddings failed; saving without', describe(error))
      }
    }
    for (const [i, memory] of result.memories.entries()) {
      await store.saveMemory({
        tenantId: job.tenant_id,
        contactId: contact.id,
        agentId: agent.id,
        content: memory.text,
        embedding: vectors[i]?.length === 1536 ? vectors[i] : null,
        sourceConversationId: job.conversation_id,
      })
    }
    return `remembered:${result.memories.length}`
  }

  // Hand-off DMs --------------------------------------------------------------------------------

  async function handleNotifyHandoff(job: Extract<AgentJob, { kind: 'notify_handoff' }>) {
    const listed = await store.listHandoffSlackTargets(job.tenant_id)
    for (const target of listed.filter((t) => t.problems.length))
      log(`agent-worker: connection ${target.connectionId} names people to notify that do not fit`, target.problems)
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
      fetch: deps.fetch,
    })
    await store.recordAudit(job.tenant_id, 'handoff.slack_dm', 'conversation', job.conversation_id, {
      reason: job.reason,
      recipients: outcomes.map((o) => ({ user_id: o.userId, ok: o.ok, error: o.error ?? null })),
    })
    return `notified:${outcomes.filter((o) => o.ok).length}/${outcomes.length}`
  }

  // Dead letters -------------------------------------------------------------------------------

  async function onDeadLetter(queue: QueueName, job: AgentJob, error: unknown, attempts: number | null) {
    const reason = describe(error)
    if (job.kind === 'reply') {
      // The apology is a reply of its own with its own delivery job, so it is retried too.
      const apology = await store.recordReply({
        tenantId: job.tenant_id,
        conversationId: job.conversation_id,
        text: APOLOGY_TEXT,
        idempotencyKey: `apology:${job.message_id}`,
        authorKind: 'system',
        metadata: { mode: 'apology', failed_message_id: job.message_id, in_reply_to: job.message_id },
      })
      if (!apology.duplicate) {
        await store.enqueueJob('agent_jobs', {
          kind: 'deliver',
          tenant_id: job.tenant_id,
          conversation_id: job.conversation_id,
          message_id: apology.message_id,
        })
      }
      await alert(job.tenant_id, 'job_dead_lettered', job.conversation_id, {
        queue,
        kind: job.kind,
        message_id: job.message_id,
        attempts,
        error: reason,
      })
    } else if (job.kind === 'deliver') {
      await store
        .setDeliveryStatus(job.tenant_id, job.message_id, 'failed', null, 'gave up delivering after retries')
        .catch(() => {})
      await alert(job.tenant_id, 'delivery_failed', job.conversation_id, {
        message_id: job.message_id,
        attempts,
        error: reason,
      })
    } else if (job.kind === 'process_source') {
      await store
        .setKnowledgeSourceStatus(
          job.tenant_id,
          job.source_id,
          'failed',
          error instanceof KnowledgeFetchFailed
            ? `Gave up after ${attempts ?? 'several'} attempts: ${error.message}`
            : 'Processing failed; see the audit log.',
        )
        .catch(() => {})
      await alert(job.tenant_id, 'knowledge_failed', null, { source_id: job.source_id, attempts, error: reason })
    }
  }

  // One job ------------------------------------------------------------------------------------

  async function processJob(
    queue: QueueName,
    claimed: ClaimedJob,
    signal: AbortSignal,
  ): Promise<{ ok: true; report: JobReport } | { ok: false; report: FailedJobReport }> {
    const tenantId =
      typeof claimed.job === 'object' && claimed.job !== null
        ? (claimed.job as Record<string, unknown>)['tenant_id']
        : undefined
    const parsed = agentJobSchema.safeParse(claimed.job)
    const kind = parsed.success ? parsed.data.kind : null
    const base = { queue, job_id: claimed.job_id, kind }
    try {
      if (!parsed.success) throw new PermanentJobError(`unreadable job: ${z.prettifyError(parsed.error)}`)
      const job = parsed.data
      let outcome: string
      switch (job.kind) {
        case 'reply':
          outcome = await handleReply(job, claimed, signal)
          break
        case 'deliver':
          outcome = await deliverMessage(job.tenant_id, job.message_id)
          break
        case 'distil_memories':
          outcome = await handleDistil(job, claimed)
          break
        case 'notify_handoff':
          outcome = await handleNotifyHandoff(job)
          break
        case 'contact_profile':
          outcome = await fetchContactProfile(job, {
            profileNeeded: (tenantId, channel, externalUserId) =>
              store.identityProfileNeeded(tenantId, channel, externalUserId),
            getChannelToken: (connectionId) => store.getChannelToken(connectionId),
            recordProfile: (input) => store.recordContactProfile(input),
            slackApiUrl: config.slackApiUrl,
            fetch: deps.fetch,
          })
          break
        case 'verify_whatsapp_channel':
          outcome = await proveWhatsAppControl(job, {
            getChannelToken: (connectionId) => store.getChannelToken(connectionId),
            confirm: (input) => store.confirmWhatsAppChannel(input),
            whatsappApiUrl: config.whatsappApiUrl,
            whatsappApiVersion: config.whatsappApiVersion,
            fetch: deps.fetch,
          })
          break
        case 'process_source':
          outcome = await processKnowledgeSource(job, {
            store,
            config,
            fetch: deps.fetch,
            resolveHost: deps.resolveHost,
            signal,
          })
          break
      }
      await store.completeJob(queue, claimed.job_id, job.tenant_id)
      return { ok: true, report: { ...base, outcome } }
    } catch (error) {
      const permanent = isPermanent(error)
      log(`agent-worker: ${queue} job ${claimed.job_id} failed (attempt ${claimed.read_count})`, describe(error))
      if (typeof tenantId !== 'string') {
        // Without a tenant the job cannot be failed through the api; the visibility timeout retries it.
        return {
          ok: false,
          report: {
            ...base,
            outcome: 'unreadable',
            attempts: claimed.read_count,
            retry_in_seconds: null,
            dead_lettered: false,
          },
        }
      }
      let result
      try {
        result = await store.failJob(
          queue,
          claimed.job_id,
          tenantId,
          describe(error),
          permanent ? 1 : config.maxAttempts,
          retryBaseDelaySeconds(error, config.retryBaseDelaySeconds),
        )
      } catch (failError) {
        // E.g. a forged job naming another tenant: leave it to the visibility timeout and say so.
        log(`agent-worker: could not fail ${queue} job ${claimed.job_id}`, describe(failError))
        return {
          ok: false,
          report: {
            ...base,
            outcome: 'fail_refused',
            attempts: claimed.read_count,
            retry_in_seconds: null,
            dead_lettered: false,
          },
        }
      }
      const deadLettered = result.outcome === 'archived'
      if (deadLettered && parsed.success) {
        await onDeadLetter(queue, parsed.data, error, result.attempts ?? claimed.read_count).catch((e: unknown) =>
          log(`agent-worker: dead-letter handling of job ${claimed.job_id} failed`, describe(e)),
        )
      }
      return {
        ok: false,
        report: {
          ...base,
          outcome: deadLettered ? 'dead_lettered' : result.outcome,
          attempts: result.attempts ?? claimed.read_count,
          retry_in_seconds: result.retry_in_seconds ?? null,
          dead_lettered: deadLettered,
        },
      }
    }
  }

  // A wake-up ---------------------------------------------------------------------------------------

  async function runOnce(queues: readonly QueueName[] = ['agent_jobs', 'knowledge_jobs']): Promise<BatchReport> {
    const started = now()
    const deadline = started + config.timeBudgetMs
    const report: BatchReport = { completed: [], failed: [], more: false, elapsed_ms: 0 }
    // Work still running at the deadline is abandoned to the visibility timeout.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), config.timeBudgetMs)
    try {
      for (const queue of queues) {
        for (;;) {
          if (deadline - now() < config.jobReserveMs) {
            report.more = true
            break
          }
          const claimed = await store.claimJobs(queue, config.batchSize, config.visibilityTimeoutSeconds)
          if (claimed.length === 0) break
          const results = await Promise.all(claimed.map((job) => processJob(queue, job, controller.signal)))
          for (const result of results) {
            if (result.ok) report.completed.push(result.report)
            else report.failed.push(result.report)
          }
          if (claimed.length < config.batchSize) break
        }
        if (report.more) break
      }
    } finally {
      clearTimeout(timer)
    }
    report.elapsed_ms = now() - started
    return report
  }

  // HTTP ------------------------------------------------------------------------------------------

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    })

  // Callers: the database's wake-ups (signed with the worker secret, see
  // shared/wake/verify-wake.ts) and server code holding a secret key.
  async function authorized(req: Request, body: string): Promise<boolean> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
    // A server caller: one of the project's secret keys (or the legacy service_role key).
    if (isSecretKey(config.project, token ?? null)) return true
    if (token && config.serviceRoleKey !== null && constantTimeEqual(token, config.serviceRoleKey)) return true
    const wake = req.headers.get(WAKE_SIGNATURE_HEADER)
    if (!wake) return false
    const verdict = await verifyWake(config.workerSecret, body, wake, new Date(now()))
    if (!verdict.ok) log('agent-worker: refused a wake-up', verdict.reason)
    return verdict.ok
  }

  async function handle(req: Request): Promise<Response> {
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' })
    // Capped before it is read, like every function's body.
    const raw = await readRawBody(req, MAX_JSON_BODY_BYTES)
    if (!raw.ok && raw.reason === 'too_large') return json(413, { error: 'request too large' })
    const body = raw.ok ? raw.text : ''
    if (!(await authorized(req, body))) return json(401, { error: 'unauthorized' })
    let queues: QueueName[] = ['agent_jobs', 'knowledge_jobs']
    try {
      const wake = JSON.parse(body) as { queue?: unknown } | null
      if (wake?.queue === 'knowledge_jobs') queues = ['knowledge_jobs', 'agent_jobs']
    } catch {
      // an empty or odd body is a plain wake-up
    }
    try {
      const report = await runOnce(queues)
      return json(report.failed.length ? 207 : 200, report)
    } catch (error) {
      log('agent-worker: the batch failed', describe(error))
      return json(500, { error: 'the worker could not run; see the function logs' })
    }
  }

  return { handle, runOnce, processJob, deliverMessage }
}

export type AgentWorker = ReturnType<typeof createAgentWorker>
