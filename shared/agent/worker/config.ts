// The agent worker's settings, read once from the function's environment and
// checked with zod. Everything has a default that fits Supabase Edge Functions'
// limits (150 s wall clock on the free plan), so only SUPABASE_URL, the project's
// secret key (SUPABASE_SECRET_KEYS, as hosted functions receive it) and
// KONSTRUCT_WORKER_SECRET are required; tests shrink the timings.

import { z } from 'zod'
import { projectFromEnv, type Project } from '../../api/project.ts'
import { readWebSearchSetup, type WebSearchProvider } from '../web-search-setup.ts'

const seconds = (fallback: number) => z.coerce.number().int().min(1).default(fallback)
const millis = (fallback: number) => z.coerce.number().int().min(1).default(fallback)
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() ? value.trim() : null))

const envSchema = z.object({
  SUPABASE_URL: z.string().url(),
  /** Legacy: still accepted as a server caller's bearer (a secret key is the current one). */
  SUPABASE_SERVICE_ROLE_KEY: optionalText,
  /** Wake-ups from the database are signed with it (Vault konstruct_worker_secret holds the same). */
  KONSTRUCT_WORKER_SECRET: z.string().min(32, 'KONSTRUCT_WORKER_SECRET must be at least 32 characters'),

  WORKER_BATCH_SIZE: z.coerce.number().int().min(1).max(50).default(10),
  /** Longer than the time budget, so a job is never claimed twice while we may still work on it. */
  WORKER_VISIBILITY_TIMEOUT_SECONDS: seconds(150),
  /** Work started after this much of the invocation is left for the next wake-up. */
  WORKER_TIME_BUDGET_MS: millis(110_000),
  /** A new batch is claimed only while at least this much time is left. */
  WORKER_JOB_RESERVE_MS: millis(40_000),
  WORKER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  WORKER_RETRY_BASE_DELAY_SECONDS: seconds(10),
  WORKER_DELIVERY_LEASE_SECONDS: seconds(60),
  /** Distil memories after a conversation has been quiet this long; 0 turns it off. */
  WORKER_MEMORY_QUIET_SECONDS: z.coerce.number().int().min(0).default(1800),

  MODEL_TIMEOUT_MS: millis(30_000),
  TOOL_TIMEOUT_MS: millis(10_000),
  AGENT_MAX_STEPS: z.coerce.number().int().min(1).max(10).default(4),
  /** Prompt budget when the agent does not set its own (model_settings.context_tokens). */
  AGENT_CONTEXT_TOKENS: z.coerce.number().int().min(500).default(12_000),
  AGENT_HISTORY_MESSAGES: z.coerce.number().int().min(1).max(500).default(60),

  OPENAI_BASE_URL: optionalText,
  /**
   * Tenants' and agents' own model endpoints may be plain http and local or private
   * addresses (the local stack, tests, a model server beside the platform). Off by
   * default: a tenant endpoint must be https at a public address.
   */
  MODEL_ALLOW_LOCAL_ENDPOINTS: z
    .enum(['true', 'false', '1', '0', ''])
    .optional()
    .transform((value) => value === 'true' || value === '1'),
  OPENAI_API_KEY: optionalText,
  OPENAI_MODEL: optionalText,
  OPENAI_FALLBACK_MODEL: optionalText,
  /** Embeddings for hybrid search and memories; off unless a model is named. */
  OPENAI_EMBEDDINGS_MODEL: optionalText,
  OPENAI_EMBEDDINGS_BASE_URL: optionalText,
  /** JSON {"model": {"input_per_million": n, "output_per_million": n}} merged over the default prices. */
  MODEL_PRICES_JSON: optionalText,

  SLACK_API_URL: optionalText,
  /** The portal's base URL, for links in hand-off DMs (optional). */
  PORTAL_URL: optionalText,
  WHATSAPP_API_URL: optionalText,
  WHATSAPP_API_VERSION: optionalText,
})

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1'
export const DEFAULT_MODEL = 'gpt-4o-mini'

export interface WorkerConfig {
  supabaseUrl: string
  /** The project: the api is called with its secret key. */
  project: Project
  serviceRoleKey: string | null
  workerSecret: string
  batchSize: number
  visibilityTimeoutSeconds: number
  timeBudgetMs: number
  jobReserveMs: number
  maxAttempts: number
  retryBaseDelaySeconds: number
  deliveryLeaseSeconds: number
  memoryQuietSeconds: number
  modelTimeoutMs: number
  toolTimeoutMs: number
  maxSteps: number
  contextTokens: number
  historyMessages: number
  /** The platform's model; null fields mean "not configured". */
  platformModel: { baseUrl: string | null; apiKey: string | null; model: string | null; fallbackModel: string | null }
  /** MODEL_ALLOW_LOCAL_ENDPOINTS: tenant endpoints are not held to https and public addresses. */
  allowLocalModelEndpoints: boolean
  embeddings: { baseUrl: string; apiKey: string | null; model: string } | null
  prices: Record<string, { inputPerMillion: number; outputPerMillion: number }>
  slackApiUrl: string | undefined
  portalUrl: string | null
  whatsappApiUrl: string | undefined
  whatsappApiVersion: string | undefined
  /** KONSTRUCT_WEB_SEARCH_*: the provider agents with web_search switched on search through; null = none. */
  webSearch: WebSearchProvider | null
}

const pricesSchema = z.record(
  z.string(),
  z.object({ input_per_million: z.number().min(0), output_per_million: z.number().min(0) }),
)

export function readWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const project = projectFromEnv(env)
  if (!env.KONSTRUCT_WORKER_SECRET) throw new Error('KONSTRUCT_WORKER_SECRET is not set')
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) throw new Error(`agent worker configuration: ${z.prettifyError(parsed.error)}`)
  const e = parsed.data
  const webSearch = readWebSearchSetup(env)
  if (webSearch.state === 'invalid') throw new Error(`agent worker configuration: ${webSearch.problem}`)
  let prices: WorkerConfig['prices'] = {}
  if (e.MODEL_PRICES_JSON) {
    const table = pricesSchema.safeParse(JSON.parse(e.MODEL_PRICES_JSON))
    if (!table.success) throw new Error('MODEL_PRICES_JSON is not a price table')
    prices = Object.fromEntries(
      Object.entries(table.data).map(([model, p]) => [
        model.toLowerCase(),
        { inputPerMillion: p.input_per_million, outputPerMillion: p.output_per_million },
      ]),
    )
  }
  return {
    supabaseUrl: e.SUPABASE_URL,
    project,
    serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY,
    workerSecret: e.KONSTRUCT_WORKER_SECRET,
    batchSize: e.WORKER_BATCH_SIZE,
    visibilityTimeoutSeconds: e.WORKER_VISIBILITY_TIMEOUT_SECONDS,
    timeBudgetMs: e.WORKER_TIME_BUDGET_MS,
    jobReserveMs: Math.min(e.WORKER_JOB_RESERVE_MS, e.WORKER_TIME_BUDGET_MS),
    maxAttempts: e.WORKER_MAX_ATTEMPTS,
    retryBaseDelaySeconds: e.WORKER_RETRY_BASE_DELAY_SECONDS,
    deliveryLeaseSeconds: e.WORKER_DELIVERY_LEASE_SECONDS,
    memoryQuietSeconds: e.WORKER_MEMORY_QUIET_SECONDS,
    modelTimeoutMs: e.MODEL_TIMEOUT_MS,
    toolTimeoutMs: e.TOOL_TIMEOUT_MS,
    maxSteps: e.AGENT_MAX_STEPS,
    contextTokens: e.AGENT_CONTEXT_TOKENS,
    historyMessages: e.AGENT_HISTORY_MESSAGES,
    platformModel: {
      baseUrl: e.OPENAI_BASE_URL,
      apiKey: e.OPENAI_API_KEY,
      model: e.OPENAI_MODEL,
      fallbackModel: e.OPENAI_FALLBACK_MODEL,
    },
    allowLocalModelEndpoints: e.MODEL_ALLOW_LOCAL_ENDPOINTS,
    embeddings: e.OPENAI_EMBEDDINGS_MODEL
      ? {
          baseUrl: e.OPENAI_EMBEDDINGS_BASE_URL ?? e.OPENAI_BASE_URL ?? DEFAULT_OPENAI_BASE_URL,
          apiKey: e.OPENAI_API_KEY,
          model: e.OPENAI_EMBEDDINGS_MODEL,
        }
      : null,
    prices,
    slackApiUrl: e.SLACK_API_URL ?? undefined,
    portalUrl: e.PORTAL_URL,
    whatsappApiUrl: e.WHATSAPP_API_URL ?? undefined,
    whatsappApiVersion: e.WHATSAPP_API_VERSION ?? undefined,
    webSearch: webSearch.state === 'configured' ? webSearch.provider : null,
  }
}
