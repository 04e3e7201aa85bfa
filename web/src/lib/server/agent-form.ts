// The agent designer's form: parsing and validation, shared by create and edit.
import type { AgentTools, EscalationRule, ModelSettings } from '$lib/types'
import { formString } from './api'

export interface AgentPayload {
  name: string
  role: string
  persona: string
  tone: string
  instructions: string
  model_settings: ModelSettings
  tools: AgentTools
  escalation_rules: EscalationRule[]
  monthly_token_budget: number | null
}

const hostPattern = /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$/i

export function parseAgentForm(form: FormData): {
  values: Record<string, string>
  errors: Record<string, string>
  payload: AgentPayload
} {
  const values: Record<string, string> = {}
  for (const key of [
    'name',
    'role',
    'persona',
    'tone',
    'instructions',
    'allowed_hosts',
    'escalation_keywords',
    'escalation_reason',
    'model',
    'base_url',
    'temperature',
    'monthly_token_budget',
  ]) {
    values[key] = formString(form, key)
  }
  for (const tool of ['knowledge_search', 'escalate_to_human', 'http_request'])
    values[`tool_${tool}`] = form.get(`tool_${tool}`) ? 'on' : ''
  const errors: Record<string, string> = {}
  if (!values.name) errors.name = 'Give the agent a name.'
  else if (values.name.length > 80) errors.name = 'Use at most 80 characters.'

  const hosts = values.allowed_hosts
    .split(/[\s,]+/)
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean)
  const badHost = hosts.find((h) => !hostPattern.test(h))
  if (values.tool_http_request && badHost)
    errors.allowed_hosts = `“${badHost}” is not a host name (e.g. api.example.com).`

  let temperature: number | undefined
  if (values.temperature) {
    temperature = Number(values.temperature)
    if (!Number.isFinite(temperature) || temperature < 0 || temperature > 2)
      errors.temperature = 'Temperature is a number from 0 to 2.'
  }
  if (values.base_url && !/^https?:\/\/\S+$/.test(values.base_url))
    errors.base_url = 'Enter an http(s) URL, e.g. https://api.openai.com/v1.'
  let budget: number | null = null
  if (values.monthly_token_budget) {
    budget = Number(values.monthly_token_budget.replace(/[_\s,]/g, ''))
    if (!Number.isInteger(budget) || budget < 0)
      errors.monthly_token_budget = 'The budget is a whole number of tokens (empty = unlimited).'
  }

  const tools: AgentTools = {}
  if (values.tool_knowledge_search) tools.knowledge_search = {}
  if (values.tool_escalate_to_human) tools.escalate_to_human = {}
  if (values.tool_http_request) tools.http_request = { allowed_hosts: hosts }

  const keywords = values.escalation_keywords
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
  const escalation_rules: EscalationRule[] = keywords.length
    ? [{ kind: 'keywords', keywords, reason: values.escalation_reason || 'the customer asked for a human' }]
    : []

  const model_settings: ModelSettings = {}
  if (values.model) model_settings.model = values.model
  if (values.base_url) model_settings.base_url = values.base_url
  if (temperature !== undefined && !errors.temperature) model_settings.temperature = temperature

  return {
    values,
    errors,
    payload: {
      name: values.name,
      role: values.role,
      persona: values.persona,
      tone: values.tone,
      instructions: values.instructions,
      model_settings,
      tools,
      escalation_rules,
      monthly_token_budget: budget,
    },
  }
}
