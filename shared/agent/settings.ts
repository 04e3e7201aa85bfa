// The agent settings format: an agent's model settings, tools and escalation rules as
// they are stored (jsonb columns of app.agents and app.agent_templates; model settings
// also in app.tenants). The portal writes them through agentSettingsSchema (the agent
// designer, the tenant's settings page); the worker reads them back through
// readAgentSettings / readModelSettings, which never throw: a stored value that does not
// fit (written by an older version, or by hand in SQL) is left out, with a problem to
// log, and the agent runs with what is left. Leaving a part out never widens what an
// agent may do: a broken http_request entry switches that tool off, a broken endpoint
// means no model call at all (offline mode), never the platform's endpoint instead.

import { z } from 'zod'
import { describeIssues, unknownKeys } from '../runtime/issues.ts'

export { describeIssues }

// Model settings ---------------------------------------------------------------------------------

const TEMPERATURE = 'Temperature is a number from 0 to 2.'
const MODEL_NAME = 'A model name is one word, e.g. gpt-4o-mini.'
const BASE_URL = 'Enter an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1.'

/** An OpenAI-compatible endpoint, without trailing slashes. */
export const baseUrlSchema = z
  .string({ error: BASE_URL })
  .trim()
  .max(2000, BASE_URL)
  .regex(/^https?:\/\/[^\s/]+\S*$/, BASE_URL)
  .refine((url) => URL.canParse(url), BASE_URL)
  .overwrite((url) => url.replace(/\/+$/, ''))

export const modelNameSchema = z
  .string({ error: MODEL_NAME })
  .trim()
  .min(1, MODEL_NAME)
  .max(200, MODEL_NAME)
  .regex(/^\S+$/, MODEL_NAME)

export const temperatureSchema = z.number({ error: TEMPERATURE }).min(0, TEMPERATURE).max(2, TEMPERATURE)

const tokenCount = (what: string, max: number) =>
  z
    .number({ error: `${what} is a whole number of tokens from 1 to ${max}.` })
    .int(`${what} is a whole number of tokens from 1 to ${max}.`)
    .min(1, `${what} is a whole number of tokens from 1 to ${max}.`)
    .max(max, `${what} is a whole number of tokens from 1 to ${max}.`)

const pricePerMillion = z
  .number({ error: 'A price is a number of US dollars per million tokens, 0 or more.' })
  .min(0, 'A price is a number of US dollars per million tokens, 0 or more.')

/**
 * Which model answers, at the agent or the tenant level (the agent's over the tenant's
 * over the platform's). Unset and null both mean "use the next level's".
 */
export const modelSettingsSchema = z.strictObject(
  {
    base_url: baseUrlSchema.nullish(),
    model: modelNameSchema.nullish(),
    fallback_model: modelNameSchema.nullish(),
    temperature: temperatureSchema.nullish(),
    max_output_tokens: tokenCount('The answer limit', 1_000_000).nullish(),
    context_tokens: tokenCount('The prompt budget', 10_000_000).nullish(),
    /** Prices of models the platform's table does not know, by model name. */
    prices: z
      .record(
        modelNameSchema,
        z.strictObject({ input_per_million: pricePerMillion, output_per_million: pricePerMillion }),
      )
      .nullish(),
  },
  {
    error: unknownKeys(
      'model setting',
      'base_url, model, fallback_model, temperature, max_output_tokens, context_tokens, prices',
    ),
  },
)
export type ModelSettings = z.output<typeof modelSettingsSchema>

// Tools ------------------------------------------------------------------------------------------

export const TOOL_NAMES = ['knowledge_search', 'escalate_to_human', 'http_request'] as const
export type ToolName = (typeof TOOL_NAMES)[number]

const HOST = /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$/

/** A host http_request may call: "api.example.com", or "*.example.com" for its subdomains. */
export const allowedHostSchema = z
  .string({ error: 'A host is a name such as api.example.com.' })
  .trim()
  .toLowerCase()
  .max(253, { error: (issue) => `“${String(issue.input).slice(0, 40)}…” is too long for a host name.` })
  .regex(HOST, { error: (issue) => `“${String(issue.input)}” is not a host name (e.g. api.example.com).` })

export const HTTP_METHODS = ['GET', 'POST'] as const

export const httpRequestSettingsSchema = z.strictObject(
  {
    /** No host: the tool is off (an agent may call only hosts its admin named). */
    allowed_hosts: z.array(allowedHostSchema).max(50, 'Name at most 50 hosts.').default([]),
    /** POST changes something somewhere, so it is allowed only when named (and then confirmed per call). */
    allowed_methods: z
      .array(z.enum(HTTP_METHODS, { error: 'A method is GET or POST.' }))
      .min(1, 'Allow at least one method (GET or POST).')
      .default(['GET']),
  },
  { error: unknownKeys('http_request setting', 'allowed_hosts, allowed_methods') },
)

const noSettings = (tool: ToolName) =>
  z.strictObject({}, { error: `${tool} takes no settings: store it as {} to switch it on.` })

/** {tool name: its settings}: a tool is on when its name is present. */
export const agentToolsSchema = z.strictObject(
  {
    knowledge_search: noSettings('knowledge_search').optional(),
    escalate_to_human: noSettings('escalate_to_human').optional(),
    http_request: httpRequestSettingsSchema.optional(),
  },
  { error: unknownKeys('tool', TOOL_NAMES.join(', ')) },
)
export type AgentTools = z.output<typeof agentToolsSchema>

// Escalation rules --------------------------------------------------------------------------------

export const DEFAULT_ESCALATION_REASON = 'the customer asked for a human'

/** Hand the conversation to a human when the customer's message holds one of the words. */
export const escalationRuleSchema = z.strictObject(
  {
    kind: z.literal('keywords', { error: 'An escalation rule has kind "keywords".' }),
    keywords: z
      .array(
        z
          .string({ error: 'A keyword is a word or phrase.' })
          .trim()
          .min(1, 'A keyword is a word or phrase.')
          .max(100, 'Keep each word or phrase under 100 characters.'),
      )
      .min(1, 'Name at least one word or phrase.')
      .max(50, 'Name at most 50 words or phrases.'),
    /** Shown to the team as why the conversation was handed off. */
    reason: z
      .string({ error: 'The reason is a short text for your team.' })
      .trim()
      .min(1, 'The reason is a short text for your team.')
      .max(200, 'Keep the reason under 200 characters.')
      .default(DEFAULT_ESCALATION_REASON),
  },
  { error: unknownKeys('escalation rule field', 'kind, keywords, reason') },
)
export type EscalationRule = z.output<typeof escalationRuleSchema>

export const escalationRulesSchema = z
  .array(escalationRuleSchema, { error: 'Escalation rules are a list.' })
  .max(20, 'Keep at most 20 escalation rules.')

// The agent --------------------------------------------------------------------------------------

const BUDGET = 'The budget is a whole number of tokens (empty = unlimited).'

/** What the portal writes for an agent (api.create_agent, api.update_agent's changes). */
export const agentSettingsSchema = z.strictObject({
  name: z
    .string({ error: 'Give the agent a name.' })
    .trim()
    .min(1, 'Give the agent a name.')
    .max(80, 'Use at most 80 characters.'),
  role: z.string().trim().max(200, 'Keep the role under 200 characters.').default(''),
  persona: z.string().trim().max(10_000, 'Keep the persona under 10,000 characters.').default(''),
  tone: z.string().trim().max(200, 'Keep the tone under 200 characters.').default(''),
  instructions: z.string().trim().max(50_000, 'Keep the instructions under 50,000 characters.').default(''),
  model_settings: modelSettingsSchema.default({}),
  tools: agentToolsSchema.default({}),
  escalation_rules: escalationRulesSchema.default([]),
  /** null = unlimited. */
  monthly_token_budget: z
    .number({ error: BUDGET })
    .int(BUDGET)
    .min(0, BUDGET)
    .max(Number.MAX_SAFE_INTEGER, BUDGET)
    .nullable()
    .default(null),
})
export type AgentSettings = z.output<typeof agentSettingsSchema>

// Reading stored values ---------------------------------------------------------------------------

export interface ModelSettingsRead {
  settings: ModelSettings
  /** The stored base_url did not fit: no model may be called with these settings. */
  endpointUnreadable: boolean
  /** What was left out and why, one line each (empty when everything fit). */
  problems: string[]
}

export interface AgentSettingsRead {
  model: ModelSettingsRead
  tools: AgentTools
  escalationRules: EscalationRule[]
  /** Every problem of the three, one line each. */
  problems: string[]
}

/** An agent's stored settings, with what does not fit left out. Never throws. */
export function readAgentSettings(stored: {
  model_settings?: unknown
  tools?: unknown
  escalation_rules?: unknown
}): AgentSettingsRead {
  const model = readModelSettings(stored.model_settings)
  const toolProblems: string[] = []
  const tools = readObject(agentToolsSchema, stored.tools, 'tools', toolProblems) as AgentTools
  const ruleProblems: string[] = []
  const escalationRules = readRules(stored.escalation_rules, ruleProblems)
  return { model, tools, escalationRules, problems: [...model.problems, ...toolProblems, ...ruleProblems] }
}

/** Stored model settings (an agent's or a tenant's), with what does not fit left out. Never throws. */
export function readModelSettings(stored: unknown, where = 'model_settings'): ModelSettingsRead {
  const problems: string[] = []
  const settings = readObject(modelSettingsSchema, stored, where, problems) as ModelSettings
  // A blank endpoint was meant as none (the next level's); any other that does not fit is unreadable.
  const url = isRecord(stored) ? stored['base_url'] : null
  const endpointUnreadable = url != null && !(typeof url === 'string' && !url.trim()) && settings.base_url == null
  return { settings, endpointUnreadable, problems }
}

function readRules(stored: unknown, problems: string[]): EscalationRule[] {
  if (stored == null) return []
  if (!Array.isArray(stored)) {
    problems.push(`escalation_rules: Escalation rules are a list; none are used.`)
    return []
  }
  const rules: EscalationRule[] = []
  stored.forEach((raw, i) => {
    const parsed = escalationRuleSchema.safeParse(raw)
    if (parsed.success) rules.push(parsed.data)
    else problems.push(...describeIssues(parsed.error, `escalation_rules[${i}]`).map((p) => `${p} (rule left out)`))
  })
  return rules
}

/**
 * Parses an object key by key, so one bad entry costs only itself: a known key whose value
 * does not fit is left out, an unknown key is ignored, each with a problem line.
 */
function readObject(schema: z.ZodObject, stored: unknown, where: string, problems: string[]): Record<string, unknown> {
  if (stored == null) return {}
  if (!isRecord(stored)) {
    problems.push(
      `${where}: expected an object, found ${Array.isArray(stored) ? 'a list' : typeof stored}; none are used.`,
    )
    return {}
  }
  const whole = schema.safeParse(stored)
  if (whole.success) return whole.data
  const shape = schema.shape as Record<string, z.ZodType>
  const kept: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(stored)) {
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined
    if (!field) {
      problems.push(`${where}.${key}: unknown, ignored.`)
      continue
    }
    const parsed = field.safeParse(value)
    if (parsed.success) kept[key] = parsed.data
    else problems.push(...describeIssues(parsed.error, `${where}.${key}`).map((p) => `${p} (left out)`))
  }
  return kept
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
