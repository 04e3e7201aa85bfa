// The agent worker's view of the database: a typed wrapper over the service api
// (api functions in supabase/migrations), called through the one
// api client (shared/api/client.ts). Results are checked with zod at this boundary; a
// database error is an ApiError that keeps its SQLSTATE, so the worker can tell a
// permanent refusal (42501, P0002, 22023) from a passing fault.

import { z } from 'zod'
import { ApiError, type Api } from '../api/client.ts'
import { readConnectionSettings } from '../channels/settings.ts'
import { groupCalls } from '../api/group-calls.ts'
import { readAgentSettings, readModelSettings } from './settings.ts'

export type QueueName = 'agent_jobs' | 'knowledge_jobs'

const uuid = z.string().uuid()
const json = z.record(z.string(), z.unknown())

export const claimedJobSchema = z.object({
  job_id: z.coerce.number().int(),
  read_count: z.coerce.number().int(),
  enqueued_at: z.string(),
  visible_at: z.string(),
  job: z.unknown(),
  /** What the job's kind reads first, read in the claim's call (api.claim_jobs_with_context); null when not. */
  prepared: z.unknown().default(null),
})
export type ClaimedJob = z.infer<typeof claimedJobSchema>

/** How much context a claim reads beside each reply job (api.prepare_reply). */
export interface ReplyContextLimits {
  messageLimit: number
  memoryLimit: number
  /** Knowledge passages searched by full text for the question; 0 when the worker embeds it first. */
  knowledgeLimit: number
}

export const failOutcomeSchema = z.object({
  outcome: z.enum(['retry', 'archived', 'gone']),
  attempts: z.number().int().optional(),
  retry_in_seconds: z.number().optional(),
})
export type FailOutcome = z.infer<typeof failOutcomeSchema>

/**
 * An agent as the worker uses it. Its settings are read through the settings format
 * (./settings.ts), which never throws: a stored value that does not fit is left out
 * and named in settings.problems, so one bad setting never fails (and retries) a job.
 */
export const agentRecordSchema = z
  .object({
    id: uuid,
    tenant_id: uuid,
    name: z.string(),
    role: z.string().default(''),
    persona: z.string().default(''),
    tone: z.string().default(''),
    instructions: z.string().default(''),
    model_settings: z.unknown(),
    tools: z.unknown(),
    escalation_rules: z.unknown(),
    monthly_token_budget: z.coerce.number().nullable().default(null),
    status: z.string(),
    has_own_llm_key: z.boolean().default(false),
    tokens_used_this_month: z.coerce.number().default(0),
  })
  .transform(({ model_settings, tools, escalation_rules, ...agent }) => ({
    ...agent,
    settings: readAgentSettings({ model_settings, tools, escalation_rules }),
  }))
export type AgentRecord = z.infer<typeof agentRecordSchema>

export const conversationRecordSchema = z.object({
  id: uuid,
  tenant_id: uuid,
  connection_id: uuid,
  channel: z.enum(['slack', 'whatsapp', 'web_chat']),
  thread_key: z.string(),
  contact_id: uuid.nullable(),
  contact_name: z.string().nullable().default(null),
  agent_id: uuid.nullable(),
  status: z.enum(['open', 'waiting_for_human', 'human', 'closed']),
  assigned_member_id: uuid.nullable().default(null),
  escalation_reason: z.string().nullable().default(null),
  last_inbound_at: z.string().nullable().default(null),
  channel_context: json.default({}),
})
export type ConversationRecord = z.infer<typeof conversationRecordSchema>

/**
 * A channel connection as the worker uses it. Its settings are read through the channel
 * settings format (../channels/settings.ts): what does not fit is left out and named in
 * settingsProblems, so one bad setting never fails (and retries) a delivery.
 */
export const connectionRecordSchema = z
  .object({
    connection_id: uuid,
    tenant_id: uuid,
    kind: z.enum(['slack', 'whatsapp', 'web_chat']),
    name: z.string().nullable().default(null),
    status: z.string(),
    slack_team_id: z.string().nullable().default(null),
    slack_bot_user_id: z.string().nullable().default(null),
    whatsapp_phone_number_id: z.string().nullable().default(null),
    has_token: z.boolean().default(false),
    settings: z.unknown(),
  })
  .transform(({ settings, ...connection }) => {
    const read = readConnectionSettings(settings)
    return { ...connection, settings: read.settings, settingsProblems: read.problems }
  })
export type ConnectionRecord = z.infer<typeof connectionRecordSchema>

export const contextMessageSchema = z.object({
  id: uuid,
  seq: z.coerce.number(),
  direction: z.enum(['in', 'out']),
  author_kind: z.enum(['contact', 'agent', 'member', 'system']),
  /** Who wrote an inbound message (several people may write in one Slack thread). */
  author_contact_id: uuid.nullable().default(null),
  text: z.string().nullable(),
  created_at: z.string(),
})
export type ContextMessage = z.infer<typeof contextMessageSchema>

export const agentContextSchema = z.object({
  tenant: z.object({
    id: uuid,
    name: z.string(),
    model_settings: z.unknown().transform((stored) => readModelSettings(stored, 'tenant model_settings')),
    has_own_llm_key: z.boolean().default(false),
  }),
  agent: agentRecordSchema.nullable(),
  conversation: conversationRecordSchema,
  connection: connectionRecordSchema,
  contact: z
    .object({
      id: uuid,
      display_name: z.string().nullable().default(null),
      /** Who the contact is on each channel (Slack user id, WhatsApp number, visitor id). */
      identities: z.array(z.object({ channel: z.string(), external_user_id: z.string() })).default([]),
    })
    .nullable()
    .default(null),
  messages: z.array(contextMessageSchema),
  memories: z.array(z.object({ id: uuid, content: z.string() })),
})
export type AgentContextRecord = z.infer<typeof agentContextSchema>

export const knowledgeHitSchema = z.object({
  chunk_id: uuid,
  source_id: uuid,
  source_title: z.string().nullable(),
  content: z.string(),
  score: z.coerce.number(),
  coverage: z.number().nullable().optional(),
})
export type KnowledgeHit = z.infer<typeof knowledgeHitSchema>

export const recordedReplySchema = z.object({
  message_id: uuid,
  duplicate: z.boolean().default(false),
  delivery_status: z.string(),
  external_id: z.string().nullable().default(null),
})

export const foundReplySchema = z.object({
  message_id: uuid,
  text: z.string().nullable(),
  author_kind: z.string(),
  delivery_status: z.string(),
  external_id: z.string().nullable(),
  metadata: json.default({}),
})
export type FoundReply = z.infer<typeof foundReplySchema>

export const deliveryLeaseSchema = z.object({
  acquired: z.boolean(),
  message: z.object({
    id: uuid,
    text: z.string().nullable(),
    author_kind: z.enum(['contact', 'agent', 'member', 'system']),
    author_member_id: uuid.nullable().default(null),
    attachments: z.array(z.unknown()).default([]),
    delivery_status: z.string(),
    external_id: z.string().nullable(),
    metadata: json.default({}),
    idempotency_key: z.string().nullable().default(null),
  }),
  conversation: conversationRecordSchema,
  connection: connectionRecordSchema,
  recipient: z.string().nullable(),
})
export type DeliveryLease = z.infer<typeof deliveryLeaseSchema>

export const pendingConfirmationSchema = z.object({
  tool_call_id: uuid,
  tool_name: z.string(),
  arguments: z.unknown(),
  result: json.nullable(),
  agent_id: uuid.nullable(),
  message_id: uuid.nullable(),
  /** The person it was proposed to: only their answer confirms or cancels it. */
  proposed_to_contact_id: uuid.nullable().default(null),
})
export type PendingConfirmationRecord = z.infer<typeof pendingConfirmationSchema>

export const knowledgeSourceSchema = z.object({
  id: uuid,
  tenant_id: uuid,
  title: z.string(),
  kind: z.enum(['text', 'markdown', 'html', 'pdf', 'url', 'csv', 'docx', 'pptx']),
  uri: z.string().nullable(),
  content: z.string().nullable(),
  status: z.string(),
})
export type KnowledgeSourceRecord = z.infer<typeof knowledgeSourceSchema>

export const preparedReplySchema = z.object({
  existing: foundReplySchema.nullable(),
  context: agentContextSchema.optional(),
  entitlement: z
    .object({ allowed: z.boolean(), reason: z.string().nullable(), message: z.string().nullable() })
    .optional(),
  pending_confirmation: pendingConfirmationSchema.nullable().optional(),
  superseded_by: uuid.nullable().optional(),
  knowledge: z
    .object({ query: z.string(), hits: z.array(knowledgeHitSchema) })
    .nullable()
    .optional(),
})
export type PreparedReply = z.infer<typeof preparedReplySchema>

export const finishedReplySchema = z.object({
  reply: recordedReplySchema,
  lease: deliveryLeaseSchema,
  settled: z.boolean(),
  completed: z.boolean(),
})
export type FinishedReply = z.infer<typeof finishedReplySchema>

/** One reply's outcome in api.finish_replies. */
const finishOutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), finished: z.unknown() }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string().nullable().default(null) }),
])

/** Replies finished in one call at most (api.finish_replies takes 50). */
const FINISH_GROUP_LIMIT = 25

/** What a turn records when it ends (api.finish_reply's arguments). */
export interface FinishReplyInput {
  tenantId: string
  conversationId: string
  reply: {
    text: string
    idempotencyKey: string
    agentId?: string | null
    metadata?: Record<string, unknown>
    authorKind?: 'agent' | 'system'
  }
  usage?: UsageRecord[]
  audit?: AuditRecord[]
  modelOk?: boolean
  leaseSeconds: number
  sentOnRecord?: boolean
  job?: { queue: QueueName; jobId: number } | null
}

function finishReplyArguments(input: FinishReplyInput) {
  return {
    tenant_id: input.tenantId,
    conversation_id: input.conversationId,
    reply: {
      text: input.reply.text,
      idempotency_key: input.reply.idempotencyKey,
      agent_id: input.reply.agentId ?? null,
      metadata: input.reply.metadata ?? {},
      author_kind: input.reply.authorKind ?? 'agent',
    },
    usage: (input.usage ?? []).map(usageArguments),
    audit: (input.audit ?? []).map(auditArguments),
    model_ok: input.modelOk ?? false,
    lease_seconds: input.leaseSeconds,
    sent_on_record: input.sentOnRecord ?? false,
    queue_name: input.job?.queue ?? null,
    job_id: input.job?.jobId ?? null,
  }
}

/** One metered model call or embedding (api.record_usage). */
export interface UsageRecord {
  model: string
  inputTokens: number
  outputTokens: number
  costUsd: number
  agentId: string | null
  kind?: 'chat' | 'embedding'
  idempotencyKey: string
  metadata?: Record<string, unknown>
}

function usageArguments(usage: UsageRecord) {
  return {
    model: usage.model,
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cost_usd: usage.costUsd,
    agent_id: usage.agentId,
    kind: usage.kind ?? 'chat',
    idempotency_key: usage.idempotencyKey,
    metadata: usage.metadata ?? {},
  }
}

/** One audit entry (api.record_audit). */
export interface AuditRecord {
  action: string
  entityType: string | null
  entityId: string | null
  details?: Record<string, unknown>
}

/** An audit entry as finish_reply's audit items and settle_delivery's alert take it. */
function auditArguments(audit: AuditRecord) {
  return {
    action: audit.action,
    entity_type: audit.entityType,
    entity_id: audit.entityId,
    details: audit.details ?? {},
  }
}

export type ToolCallStatus =
  'requested' | 'awaiting_confirmation' | 'confirmed' | 'cancelled' | 'succeeded' | 'failed' | 'refused'

export type DeliveryStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed' | 'undeliverable'

/** pgvector's text form, which PostgREST passes to a `vector` argument. */
export function vectorLiteral(vector: readonly number[] | null | undefined): string | null {
  return vector && vector.length ? `[${vector.join(',')}]` : null
}

export function createAgentStore(api: Api) {
  const call = (fn: string, args: Record<string, unknown>): Promise<unknown> => api(fn, args)
  function parse<T>(fn: string, schema: z.ZodType<T>, value: unknown): T {
    const result = schema.safeParse(value)
    if (!result.success) throw new ApiError(fn, 200, 'shape', `unexpected result: ${z.prettifyError(result.error)}`)
    return result.data
  }

  /** Replies ready together, finished in one call; each gets its own outcome (an ApiError with its SQLSTATE). */
  const finishGrouped = groupCalls<FinishReplyInput, FinishedReply>(
    async (inputs) => {
      const data = await call('finish_replies', { replies: inputs.map(finishReplyArguments) })
      const outcomes = parse('finish_replies', z.array(finishOutcomeSchema).length(inputs.length), data)
      return outcomes.map((outcome) => {
        if (!outcome.ok) return { ok: false, error: new ApiError('finish_replies', 200, outcome.code, outcome.message) }
        const finished = finishedReplySchema.safeParse(outcome.finished)
        return finished.success
          ? { ok: true, value: finished.data }
          : {
              ok: false,
              error: new ApiError(
                'finish_replies',
                200,
                'shape',
                `unexpected result: ${z.prettifyError(finished.error)}`,
              ),
            }
      })
    },
    { maxItems: FINISH_GROUP_LIMIT },
  )

  return {
    async claimJobs(
      queue: QueueName,
      batchSize: number,
      visibilityTimeoutSeconds: number,
      options: {
        /** Read each reply job's context beside it (api.prepare_reply). */
        replyContext?: ReplyContextLimits | null
        /** The first claim of a wake-up: later enqueues wake a worker of their own (app.begin_wake). */
        beginsWake?: boolean
      } = {},
    ): Promise<ClaimedJob[]> {
      const { replyContext = null, beginsWake = false } = options
      const data = await call('claim_jobs_with_context', {
        queue_name: queue,
        batch_size: batchSize,
        visibility_timeout_seconds: visibilityTimeoutSeconds,
        reply_context: replyContext && {
          message_limit: replyContext.messageLimit,
          memory_limit: replyContext.memoryLimit,
          knowledge_limit: replyContext.knowledgeLimit,
        },
        begins_wake: beginsWake,
      })
      return parse('claim_jobs_with_context', z.array(claimedJobSchema), data ?? [])
    },

    async completeJob(queue: QueueName, jobId: number, tenantId: string): Promise<boolean> {
      return Boolean(await call('complete_job', { queue_name: queue, job_id: jobId, tenant_id: tenantId }))
    },

    async failJob(
      queue: QueueName,
      jobId: number,
      tenantId: string,
      error: string,
      maxAttempts: number,
      baseDelaySeconds: number,
    ): Promise<FailOutcome> {
      const data = await call('fail_job', {
        queue_name: queue,
        job_id: jobId,
        tenant_id: tenantId,
        error,
        max_attempts: maxAttempts,
        base_delay_seconds: baseDelaySeconds,
      })
      return parse('fail_job', failOutcomeSchema, data)
    },

    async enqueueJob(queue: QueueName, job: Record<string, unknown>): Promise<number> {
      return Number(await call('enqueue_job', { queue_name: queue, job }))
    },

    async scheduleJob(queue: QueueName, job: Record<string, unknown>, delaySeconds: number): Promise<number> {
      return Number(await call('schedule_job', { queue_name: queue, job, delay_seconds: delaySeconds }))
    },

    /** What a reply job reads before the model, in one call (api.prepare_reply). */
    async prepareReply(
      tenantId: string,
      conversationId: string,
      messageId: string,
      replyKey: string,
      limits: ReplyContextLimits,
    ): Promise<PreparedReply> {
      const data = await call('prepare_reply', {
        tenant_id: tenantId,
        conversation_id: conversationId,
        message_id: messageId,
        reply_key: replyKey,
        message_limit: limits.messageLimit,
        memory_limit: limits.memoryLimit,
        knowledge_limit: limits.knowledgeLimit,
      })
      return parse('prepare_reply', preparedReplySchema, data)
    },

    /**
     * After a turn, in one transaction (api.finish_reply's work): the model's outcome, usage
     * and audit, the reply, and its delivery lease; with sentOnRecord (storing is delivering)
     * and a deliverable message, also marked sent and the job completed. Replies finished
     * while an earlier call is under way go together in the next (api.finish_replies).
     */
    finishReply(input: FinishReplyInput): Promise<FinishedReply> {
      return finishGrouped(input)
    },

    /** A sender's outcome, and the job completed once the message is settled (api.settle_delivery). */
    async settleDelivery(input: {
      tenantId: string
      messageId: string
      status: DeliveryStatus
      externalId?: string | null
      error?: string | null
      job?: { queue: QueueName; jobId: number } | null
      /** The audit entry that explains the status, in the same transaction: an alert (a delivery that gives up) or agent.reply_withheld. */
      alert?: AuditRecord | null
    }): Promise<{ completed: boolean }> {
      const data = await call('settle_delivery', {
        tenant_id: input.tenantId,
        message_id: input.messageId,
        status: input.status,
        external_id: input.externalId ?? null,
        error: input.error ?? null,
        queue_name: input.job?.queue ?? null,
        job_id: input.job?.jobId ?? null,
        // Only when there is one: a database before 20261208110000 knows no `alert` argument.
        ...(input.alert ? { alert: auditArguments(input.alert) } : {}),
      })
      return parse('settle_delivery', z.object({ completed: z.boolean() }), data)
    },

    async getAgentContext(
      tenantId: string,
      conversationId: string,
      options: { embedding?: readonly number[] | null; messageLimit: number; memoryLimit: number },
    ): Promise<AgentContextRecord> {
      const data = await call('get_agent_context', {
        tenant_id: tenantId,
        conversation_id: conversationId,
        query_embedding: vectorLiteral(options.embedding),
        message_limit: options.messageLimit,
        memory_limit: options.memoryLimit,
        // The worker searches knowledge itself, once it has the query's embedding (worker.ts).
        knowledge_limit: 0,
      })
      return parse('get_agent_context', agentContextSchema, data)
    },

    async searchKnowledge(
      tenantId: string,
      query: string,
      embedding: readonly number[] | null,
      count: number,
    ): Promise<KnowledgeHit[]> {
      const data = await call('search_knowledge', {
        tenant_id: tenantId,
        query_text: query,
        query_embedding: vectorLiteral(embedding),
        match_count: count,
      })
      return parse('search_knowledge', z.array(knowledgeHitSchema), data ?? [])
    },

    /** Whom to DM on a hand-off, per Slack connection; ids read through the connection settings format. */
    async listHandoffSlackTargets(
      tenantId: string,
    ): Promise<Array<{ connectionId: string; userIds: string[]; problems: string[] }>> {
      const data = await call('list_handoff_slack_targets', { tenant_id: tenantId })
      const rows = parse(
        'list_handoff_slack_targets',
        z.array(z.object({ connection_id: uuid, user_ids: z.unknown() })),
        data ?? [],
      )
      return rows.map((r) => {
        const { settings, problems } = readConnectionSettings({ handoff_notify_user_ids: r.user_ids })
        return { connectionId: r.connection_id, userIds: settings.handoff_notify_user_ids ?? [], problems }
      })
    },

    /** After a turn that called a model: counts failures in a row; alerted = this failure raised the alert. */
    async recordModelOutcome(input: {
      tenantId: string
      ok: boolean
      conversationId: string | null
      error?: string | null
      status?: number | null
    }): Promise<{ alerted: boolean; recovered: boolean }> {
      const data = await call('record_model_outcome', {
        tenant_id: input.tenantId,
        ok: input.ok,
        conversation_id: input.conversationId,
        error: input.error ?? null,
        status: input.status ?? null,
      })
      return parse('record_model_outcome', z.object({ alerted: z.boolean(), recovered: z.boolean() }), data)
    },

    async getLlmKey(tenantId: string, agentId: string | null): Promise<string | null> {
      const data = await call('get_llm_key', { tenant_id: tenantId, agent_id: agentId })
      return typeof data === 'string' && data ? data : null
    },

    async confirmWhatsAppChannel(input: {
      connectionId: string
      phoneNumberIds: string[]
      error: string | null
      displayPhoneNumber: string | null
    }): Promise<{ verified: boolean; reason?: string }> {
      const data = (await call('confirm_whatsapp_channel', {
        connection_id: input.connectionId,
        phone_number_ids: input.phoneNumberIds,
        error: input.error,
        display_phone_number: input.displayPhoneNumber,
      })) as { verified?: unknown; reason?: unknown } | null
      return { verified: data?.verified === true, reason: typeof data?.reason === 'string' ? data.reason : undefined }
    },

    async identityProfileNeeded(tenantId: string, channel: string, externalUserId: string): Promise<boolean> {
      const data = await call('identity_profile_needed', {
        tenant_id: tenantId,
        channel,
        external_user_id: externalUserId,
      })
      return data === true
    },

    async recordContactProfile(input: {
      tenantId: string
      channel: string
      externalUserId: string
      name: string | null
      avatarUrl: string | null
    }): Promise<void> {
      await call('record_contact_profile', {
        tenant_id: input.tenantId,
        channel: input.channel,
        external_user_id: input.externalUserId,
        display_name: input.name,
        avatar_url: input.avatarUrl,
      })
    },

    async getChannelToken(connectionId: string): Promise<string | null> {
      const data = await call('get_channel_token', { connection_id: connectionId })
      return typeof data === 'string' && data ? data : null
    },

    async recordReply(input: {
      tenantId: string
      conversationId: string
      text: string
      idempotencyKey: string
      agentId?: string | null
      metadata?: Record<string, unknown>
      authorKind?: 'agent' | 'system'
    }) {
      const data = await call('record_reply', {
        tenant_id: input.tenantId,
        conversation_id: input.conversationId,
        text: input.text,
        idempotency_key: input.idempotencyKey,
        agent_id: input.agentId ?? null,
        metadata: input.metadata ?? {},
        author_kind: input.authorKind ?? 'agent',
      })
      return parse('record_reply', recordedReplySchema, data)
    },

    async beginDelivery(tenantId: string, messageId: string, leaseSeconds: number): Promise<DeliveryLease> {
      const data = await call('begin_delivery', {
        tenant_id: tenantId,
        message_id: messageId,
        lease_seconds: leaseSeconds,
      })
      return parse('begin_delivery', deliveryLeaseSchema, data)
    },

    async setDeliveryStatus(
      tenantId: string,
      messageId: string,
      status: DeliveryStatus,
      externalId: string | null = null,
      error: string | null = null,
    ): Promise<void> {
      await call('set_delivery_status', {
        tenant_id: tenantId,
        message_id: messageId,
        status,
        external_id: externalId,
        error,
      })
    },

    async recordUsage(input: UsageRecord & { tenantId: string; conversationId: string | null }): Promise<void> {
      await call('record_usage', {
        tenant_id: input.tenantId,
        conversation_id: input.conversationId,
        ...usageArguments(input),
      })
    },

    async recordToolCall(input: {
      tenantId: string
      conversationId: string
      toolName: string
      arguments: unknown
      status: ToolCallStatus
      result?: unknown
      error?: string | null
      agentId?: string | null
      messageId?: string | null
      idempotencyKey: string
    }): Promise<{ tool_call_id: string; duplicate: boolean; status: string }> {
      const data = await call('record_tool_call', {
        tenant_id: input.tenantId,
        conversation_id: input.conversationId,
        tool_name: input.toolName,
        arguments: input.arguments ?? {},
        status: input.status,
        result: input.result ?? null,
        error: input.error ?? null,
        agent_id: input.agentId ?? null,
        message_id: input.messageId ?? null,
        idempotency_key: input.idempotencyKey,
      })
      return parse(
        'record_tool_call',
        z.object({ tool_call_id: uuid, duplicate: z.boolean(), status: z.string() }),
        data,
      )
    },

    async updateToolCall(
      tenantId: string,
      toolCallId: string,
      status: ToolCallStatus,
      result: unknown = null,
      error: string | null = null,
    ): Promise<void> {
      await call('update_tool_call', { tenant_id: tenantId, tool_call_id: toolCallId, status, result, error })
    },

    async recordAudit(
      tenantId: string,
      action: string,
      entityType: string | null,
      entityId: string | null,
      details: Record<string, unknown> = {},
    ): Promise<void> {
      await call('record_audit', {
        tenant_id: tenantId,
        action,
        entity_type: entityType,
        entity_id: entityId,
        details,
      })
    },

    async escalateConversation(tenantId: string, conversationId: string, reason: string): Promise<void> {
      await call('escalate_conversation', { tenant_id: tenantId, conversation_id: conversationId, reason })
    },

    async saveMemory(input: {
      tenantId: string
      contactId: string
      agentId: string
      content: string
      embedding?: readonly number[] | null
      sourceConversationId?: string | null
    }): Promise<void> {
      await call('save_memory', {
        tenant_id: input.tenantId,
        contact_id: input.contactId,
        agent_id: input.agentId,
        content: input.content,
        embedding: vectorLiteral(input.embedding),
        source_conversation_id: input.sourceConversationId ?? null,
      })
    },

    /** A message's recorded delivery progress (metadata.delivery), for the channel senders. */
    progressStore(tenantId: string, messageId: string) {
      return {
        async load(): Promise<Record<string, unknown>> {
          const data = (await call('get_outbound_delivery', { tenant_id: tenantId, message_id: messageId })) as {
            delivery?: Record<string, unknown>
          } | null
          return data?.delivery ?? {}
        },
        async save(patch: Record<string, unknown>): Promise<void> {
          await call('record_delivery_progress', { tenant_id: tenantId, message_id: messageId, progress: patch })
        },
      }
    },

    async getKnowledgeSource(tenantId: string, sourceId: string): Promise<KnowledgeSourceRecord | null> {
      const data = await call('get_knowledge_source', { tenant_id: tenantId, source_id: sourceId })
      return data == null ? null : parse('get_knowledge_source', knowledgeSourceSchema, data)
    },

    async replaceKnowledgeChunks(
      tenantId: string,
      sourceId: string,
      chunks: ReadonlyArray<{ content: string; heading?: string | null; token_count: number; embedding?: number[] }>,
    ): Promise<number> {
      return Number(await call('replace_knowledge_chunks', { tenant_id: tenantId, source_id: sourceId, chunks }))
    },

    async setKnowledgeSourceStatus(
      tenantId: string,
      sourceId: string,
      status: 'pending' | 'processing' | 'ready' | 'failed',
      error: string | null = null,
    ): Promise<void> {
      await call('set_knowledge_source_status', { tenant_id: tenantId, source_id: sourceId, status, error })
    },
  }
}

export type AgentStore = ReturnType<typeof createAgentStore>
