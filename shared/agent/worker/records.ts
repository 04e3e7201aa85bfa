// What a job writes besides its result: usage and audit per model call, the tool calls,
// the admins' alerts, the model's failure streak, and taking a "thinking" status away.

import type { AgentTurnFailed, ModelCallLog, ToolCallLog } from '../loop.ts'
import type { AuditRecord, ToolCallStatus, UsageRecord } from '../store.ts'
import type { WorkerContext } from './context.ts'
import type { ThinkingTarget } from './deliveries.ts'
import { describeFailure } from './failures.ts'

export function toolStatus(log: ToolCallLog): ToolCallStatus {
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

export function parseArguments(raw: string): unknown {
  try {
    const value = JSON.parse(raw)
    return typeof value === 'object' && value !== null ? value : { value }
  } catch {
    return { raw: raw.slice(0, 2000) }
  }
}

export function parseResult(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { text }
  }
}

/** A turn's model calls as usage and audit records (written by api.finish_reply, or one by one). */
export function modelCallRecords(
  calls: readonly ModelCallLog[],
  input: { agentId: string; conversationId: string; keyPrefix: string },
): { usage: UsageRecord[]; audit: AuditRecord[] } {
  const usage: UsageRecord[] = []
  const audit: AuditRecord[] = []
  for (const [index, call] of calls.entries()) {
    const key = `${input.keyPrefix}:m${index}`
    usage.push({
      agentId: input.agentId,
      model: call.model,
      inputTokens: call.usage.promptTokens,
      outputTokens: call.usage.completionTokens,
      costUsd: call.costUsd,
      kind: 'chat',
      idempotencyKey: key,
      metadata: { estimated: call.usage.estimated, used_fallback: call.usedFallback, latency_ms: call.latencyMs },
    })
    audit.push({
      action: 'agent.model_call',
      entityType: 'conversation',
      entityId: input.conversationId,
      details: {
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
      },
    })
  }
  return { usage, audit }
}

/** Meters a turn's model calls one by one (a failed turn; a finished one goes through api.finish_reply). */
export async function meterModelCalls(
  ctx: WorkerContext,
  calls: readonly ModelCallLog[],
  input: { tenantId: string; agentId: string; conversationId: string; keyPrefix: string },
) {
  const records = modelCallRecords(calls, input)
  for (const [index, usage] of records.usage.entries()) {
    await ctx.store.recordUsage({ ...usage, tenantId: input.tenantId, conversationId: input.conversationId })
    const audit = records.audit[index]!
    await ctx.store.recordAudit(input.tenantId, audit.action, audit.entityType, audit.entityId, audit.details)
  }
}

/** Records a turn's tool calls; returns the stored id of each by the model's call id. */
export async function recordToolCalls(
  ctx: WorkerContext,
  calls: readonly ToolCallLog[],
  input: { tenantId: string; agentId: string; conversationId: string; messageId: string; keyPrefix: string },
): Promise<Map<string, string>> {
  const ids = new Map<string, string>()
  for (const call of calls) {
    const status = toolStatus(call)
    const recorded = await ctx.store.recordToolCall({
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
    await ctx.store.recordAudit(input.tenantId, 'agent.tool_call', 'tool_call', recorded.tool_call_id, {
      agent_id: input.agentId,
      conversation_id: input.conversationId,
      tool: call.name,
      arguments: parseArguments(call.arguments),
      outcome: call.outcome,
    })
  }
  return ids
}

/** The audit entry of an alert for the tenant's admins (`alert.<kind>`, broadcast live to the portal). */
export function alertEntry(kind: string, conversationId: string | null, details: Record<string, unknown>): AuditRecord {
  return {
    action: `alert.${kind}`,
    entityType: conversationId ? 'conversation' : null,
    entityId: conversationId,
    details,
  }
}

/** Records an alert for the tenant's admins on its own (see alertEntry). */
export async function alert(
  ctx: WorkerContext,
  tenantId: string,
  kind: string,
  conversationId: string | null,
  details: Record<string, unknown>,
) {
  const entry = alertEntry(kind, conversationId, details)
  await ctx.store.recordAudit(tenantId, entry.action, entry.entityType, entry.entityId, details)
}

/**
 * An alert that must not stop what follows it (dead-lettering: the apology, the failed
 * status): a failure to record it is logged, not thrown.
 */
export async function alertAndGoOn(
  ctx: WorkerContext,
  tenantId: string,
  kind: string,
  conversationId: string | null,
  details: Record<string, unknown>,
) {
  await alert(ctx, tenantId, kind, conversationId, details).catch((error: unknown) =>
    ctx.log(`agent-worker: could not record the ${kind} alert`, describeFailure(error)),
  )
}

/** Counts a failed model turn; the failure that raises the alert also sends the hand-off DM. */
export async function reportModelFailure(
  ctx: WorkerContext,
  tenantId: string,
  conversationId: string,
  error: AgentTurnFailed,
) {
  const last = error.failure.lastError
  const what = last.status ? `${last.kind} (HTTP ${last.status})` : last.kind
  try {
    const outcome = await ctx.store.recordModelOutcome({
      tenantId,
      ok: false,
      conversationId,
      error: what,
      status: last.status,
    })
    if (outcome.alerted) {
      await ctx.store.enqueueJob('agent_jobs', {
        kind: 'notify_handoff',
        tenant_id: tenantId,
        conversation_id: conversationId,
        reason: `The model failed to answer several times in a row (last error: ${what}). Check the model settings.`,
        source: 'model_failing',
      })
    }
  } catch (e) {
    ctx.log('agent-worker: could not record the model failure', describeFailure(e))
  }
}

/** Removes a "thinking" status no answer will replace (best effort: never fails the job). */
export async function clearThinking(ctx: WorkerContext, target: ThinkingTarget) {
  const clear = ctx.deliveries[target.connection.kind]?.clearThinking
  if (!clear) return
  await clear(target).catch((error: unknown) =>
    ctx.log('agent-worker: could not clear the thinking status', describeFailure(error)),
  )
}
