// The model a turn uses, and the query embedding its knowledge search uses.

import { embedTexts } from '../embeddings.ts'
import type { ModelTarget } from '../model.ts'
import { DEFAULT_PRICES, costOfCall, type PriceTable } from '../pricing.ts'
import type { ModelSettings } from '../settings.ts'
import type { AgentContextRecord, AgentRecord } from '../store.ts'
import { DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL, type WorkerConfig } from './config.ts'
import type { WorkerContext } from './context.ts'
import { describeFailure } from './failures.ts'

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

export type TurnModel = NonNullable<Awaited<ReturnType<typeof resolveModel>>>

/**
 * The model for a turn: the agent's settings over the tenant's over the platform's.
 * A key is only ever sent to the base URL it belongs with: the platform's key goes
 * to the platform's endpoint, a tenant's own key to the tenant's or agent's. With no
 * endpoint and no key anywhere there is no model: offline mode.
 */
export async function resolveModel(ctx: WorkerContext, context: AgentContextRecord, agent: AgentRecord) {
  const { config, store } = ctx
  const agentSettings = agent.settings.model.settings
  const tenantSettings = context.tenant.model_settings.settings
  // An endpoint that does not fit the format is not guessed at: sending the conversation
  // (or the tenant's key) to another endpoint than the one set would be worse than the
  // offline answer. The problem is logged with the others (settingsProblems).
  if (agent.settings.model.endpointUnreadable) return null
  if (!agentSettings.base_url && context.tenant.model_settings.endpointUnreadable) return null
  const platform = config.platformModel
  const ownKey =
    agent.has_own_llm_key || context.tenant.has_own_llm_key ? await store.getLlmKey(context.tenant.id, agent.id) : null
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
    guard: customBaseUrl ? ctx.tenantEndpointGuard : null,
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
export async function embedQuery(
  ctx: WorkerContext,
  text: string,
  meter: { tenantId: string; agentId: string | null; conversationId: string | null; key: string },
  signal: AbortSignal,
): Promise<number[] | null> {
  const { config, store } = ctx
  if (!config.embeddings || !text.trim()) return null
  try {
    const result = await embedTexts(config.embeddings, [text.slice(0, 8000)], {
      fetch: ctx.fetch,
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
    ctx.log('agent-worker: query embedding failed; searching by full text only', describeFailure(error))
    return null
  }
}
